//! The in-memory event log: the contract of [`EventLog`] without IO.
//!
//! For unit tests and the deterministic simulation, which call the plain
//! synchronous methods ([`MemoryLog::append_sync`], [`MemoryLog::events`])
//! from virtual time; async callers use the trait. Nothing survives the
//! process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use tokio::sync::watch;

use super::{AppendError, EventLog, GlobalSeq, Positioned, StoreError, check_batch};
use crate::domain::{DeviceId, Envelope};

/// An event log held in memory. Cloning gives another handle on the same log.
#[derive(Clone)]
pub struct MemoryLog {
    shared: Arc<Shared>,
}

struct Shared {
    inner: Mutex<Inner>,
    checkpoints: Arc<super::checkpoint::MemoryCheckpoints>,
    /// The last global sequence, so that tails wake up on appends.
    last_global: watch::Sender<GlobalSeq>,
}

#[derive(Default)]
struct Inner {
    /// Every event; the global sequence of `events[i]` is `i + 1`.
    events: Vec<Envelope>,
    /// Per device: the indexes into `events` of its envelopes, in order
    /// (so its last sequence is the length).
    devices: BTreeMap<DeviceId, Vec<usize>>,
}

impl Default for MemoryLog {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLog")
            .field("events", &self.len())
            .finish()
    }
}

impl MemoryLog {
    pub fn new() -> Self {
        let (last_global, _) = watch::channel(0);
        MemoryLog {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner::default()),
                checkpoints: Arc::default(),
                last_global,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-written
        // (appends check everything before pushing), so a poisoned lock is
        // still a consistent log.
        self.shared
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// [`EventLog::append`], synchronously (for the simulation).
    pub fn append_sync(
        &self,
        device: &DeviceId,
        expected_seq: u64,
        events: Vec<Envelope>,
    ) -> Result<u64, AppendError> {
        check_batch(device, expected_seq, &events)?;
        let new_global = {
            let mut inner = self.lock();
            let Inner {
                events: log,
                devices,
            } = &mut *inner;
            let indexes = devices.entry(device.clone()).or_default();
            let actual = indexes.len() as u64;
            if actual != expected_seq {
                // A retry of envelopes already recorded succeeds, once.
                let end = expected_seq.saturating_add(events.len() as u64);
                let already = actual >= end
                    && events.iter().all(|env| {
                        indexes
                            .get(env.seq as usize - 1)
                            .is_some_and(|&i| log[i] == *env)
                    });
                if already && !events.is_empty() {
                    return Ok(end);
                }
                return Err(AppendError::Conflict { actual });
            }
            for env in events {
                indexes.push(log.len());
                log.push(env);
            }
            log.len() as GlobalSeq
        };
        self.shared.last_global.send_replace(new_global);
        Ok(self.last_seq_sync(device))
    }

    /// The last sequence of `device` (0: no events).
    pub fn last_seq_sync(&self, device: &DeviceId) -> u64 {
        self.lock()
            .devices
            .get(device)
            .map_or(0, |v| v.len() as u64)
    }

    /// Every event with its global sequence, in log order (a copy).
    pub fn events(&self) -> Vec<Positioned> {
        self.events_from(1)
    }

    /// Events with global sequence `>= from`, in log order (a copy).
    pub fn events_from(&self, from: GlobalSeq) -> Vec<Positioned> {
        let inner = self.lock();
        let start = from.max(1) as usize - 1;
        inner
            .events
            .iter()
            .enumerate()
            .skip(start)
            .map(|(i, env)| (i as GlobalSeq + 1, env.clone()))
            .collect()
    }

    /// The events of one device, in order (a copy).
    pub fn history_sync(&self, device: &DeviceId) -> Vec<Envelope> {
        let inner = self.lock();
        inner
            .devices
            .get(device)
            .map(|idx| idx.iter().map(|&i| inner.events[i].clone()).collect())
            .unwrap_or_default()
    }

    /// The number of events in the log (also the last global sequence).
    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events in `[from, to]`, at most `limit` of them.
    fn slice(&self, from: GlobalSeq, to: GlobalSeq, limit: usize) -> Vec<Positioned> {
        let inner = self.lock();
        let start = from.max(1) as usize - 1;
        let end = (to as usize).min(inner.events.len());
        if start >= end {
            return Vec::new();
        }
        inner.events[start..end]
            .iter()
            .take(limit)
            .enumerate()
            .map(|(i, env)| ((start + i) as GlobalSeq + 1, env.clone()))
            .collect()
    }
}

/// How many events a stream copies out under one lock.
const CHUNK: usize = 1024;

impl EventLog for MemoryLog {
    fn checkpoints(&self) -> Option<Arc<dyn super::checkpoint::CheckpointStore>> {
        Some(self.shared.checkpoints.clone())
    }

    fn append<'a>(
        &'a self,
        device: &'a DeviceId,
        expected_seq: u64,
        events: Vec<Envelope>,
    ) -> BoxFuture<'a, Result<u64, AppendError>> {
        Box::pin(async move { self.append_sync(device, expected_seq, events) })
    }

    fn last_seq<'a>(&'a self, device: &'a DeviceId) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move { Ok(self.last_seq_sync(device)) })
    }

    fn replay(&self, from: GlobalSeq) -> BoxStream<'static, Result<Positioned, StoreError>> {
        let log = self.clone();
        let end = self.len() as GlobalSeq;
        futures::stream::unfold(from.max(1), move |next| {
            let chunk = log.slice(next, end, CHUNK);
            async move {
                let last = chunk.last()?.0;
                Some((futures::stream::iter(chunk.into_iter().map(Ok)), last + 1))
            }
        })
        .flatten()
        .boxed()
    }

    fn device_history(
        &self,
        device: &DeviceId,
    ) -> BoxStream<'static, Result<Envelope, StoreError>> {
        futures::stream::iter(self.history_sync(device).into_iter().map(Ok)).boxed()
    }

    fn tail(&self, from: GlobalSeq) -> BoxStream<'static, Result<Positioned, StoreError>> {
        let log = self.clone();
        let changed = self.shared.last_global.subscribe();
        futures::stream::unfold((from.max(1), changed), move |(next, mut changed)| {
            let log = log.clone();
            async move {
                loop {
                    // Mark the current value seen before reading, so an
                    // append between the read and the wait still wakes us.
                    changed.borrow_and_update();
                    let chunk = log.slice(next, GlobalSeq::MAX, CHUNK);
                    if let Some(&(last, _)) = chunk.last() {
                        let items = futures::stream::iter(chunk.into_iter().map(Ok));
                        return Some((items, (last + 1, changed)));
                    }
                    // The sender lives as long as `log`, which we hold.
                    changed.changed().await.ok()?;
                }
            }
        })
        .flatten()
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Event, SCHEMA_VERSION, TenantId, Timestamp};

    fn env(device: &str, seq: u64) -> Envelope {
        Envelope {
            schema: SCHEMA_VERSION,
            device: DeviceId::parse(device).unwrap(),
            tenant: TenantId::parse("t").unwrap(),
            seq,
            at: Timestamp(seq),
            node: "n".into(),
            correlation: None,
            event: Event::CredentialsUpdated,
            after: None,
        }
    }

    #[test]
    fn sequences_conflicts_and_retries() {
        let log = MemoryLog::new();
        let a = DeviceId::parse("a").unwrap();
        let b = DeviceId::parse("b").unwrap();
        assert_eq!(
            log.append_sync(&a, 0, vec![env("a", 1), env("a", 2)])
                .unwrap(),
            2
        );
        assert_eq!(log.append_sync(&b, 0, vec![env("b", 1)]).unwrap(), 1);
        assert!(matches!(
            log.append_sync(&a, 1, vec![env("a", 2)]),
            Ok(2) // the same envelope again: an idempotent retry
        ));
        let mut other = env("a", 2);
        other.node = "other".into();
        assert!(matches!(
            log.append_sync(&a, 1, vec![other]),
            Err(AppendError::Conflict { actual: 2 })
        ));
        assert!(matches!(
            log.append_sync(&a, 2, vec![env("a", 4)]),
            Err(AppendError::Invalid { .. })
        ));
        let order: Vec<_> = log
            .events()
            .iter()
            .map(|(g, e)| (*g, e.device.to_string(), e.seq))
            .collect();
        assert_eq!(
            order,
            vec![(1, "a".into(), 1), (2, "a".into(), 2), (3, "b".into(), 1)]
        );
        assert_eq!(log.history_sync(&a).len(), 2);
        assert_eq!(log.last_seq_sync(&b), 1);
    }

    #[tokio::test]
    async fn tail_sees_later_appends() {
        let log = MemoryLog::new();
        let a = DeviceId::parse("a").unwrap();
        log.append_sync(&a, 0, vec![env("a", 1)]).unwrap();
        let mut tail = log.tail(2);
        let writer = log.clone();
        let task = tokio::spawn(async move {
            let a = DeviceId::parse("a").unwrap();
            writer.append(&a, 1, vec![env("a", 2)]).await.unwrap();
        });
        let (g, e) = tail.next().await.unwrap().unwrap();
        assert_eq!((g, e.seq), (2, 2));
        task.await.unwrap();
        let replayed: Vec<_> = log.replay(0).collect().await;
        assert_eq!(replayed.len(), 2);
    }
}
