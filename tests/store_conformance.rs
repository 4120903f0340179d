//! One contract, three backends: the same checks against the in-memory log,
//! the embedded redb log and JetStream (a real nats-server from `NATS_URL`;
//! the JetStream tests fail when it is not set).
//!
//! Each test uses its own stream name and subject prefix (JetStream) or its
//! own temporary directory (embedded), so they run in parallel.

mod common;
use common::keep_account_alive;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use confkeep::domain::{DeviceId, Envelope, Event, SCHEMA_VERSION, TenantId, Timestamp};
use confkeep::store::embedded::EmbeddedLog;
use confkeep::store::jetstream::{JetStreamConfig, JetStreamLog};
use confkeep::store::{AppendError, EventLog, MemoryLog, StoreError};
use futures::StreamExt;

// === backends ===

enum Kind {
    Memory(MemoryLog),
    Embedded(tempfile::TempDir),
    JetStream(JetStreamConfig),
}

struct Backend {
    kind: Kind,
    log: Arc<dyn EventLog>,
}

fn nats_url() -> String {
    std::env::var("NATS_URL")
        .expect("NATS_URL must point at a nats-server with JetStream (scripts/test starts one)")
}

/// A name unique to this test run and test.
fn unique(test: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}_{}_{}",
        test.to_uppercase(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Backend {
    async fn memory(_test: &str) -> Self {
        let log = MemoryLog::new();
        Backend {
            kind: Kind::Memory(log.clone()),
            log: Arc::new(log),
        }
    }

    async fn embedded(_test: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = EmbeddedLog::open_dir(dir.path()).unwrap();
        Backend {
            kind: Kind::Embedded(dir),
            log: Arc::new(log),
        }
    }

    async fn jetstream(test: &str) -> Self {
        keep_account_alive(&nats_url()).await;
        let name = unique(test);
        let mut config = JetStreamConfig::new(nats_url());
        config.stream = format!("CONFORMANCE_{name}");
        config.subject_prefix = format!("conformance.{}", name.to_lowercase());
        let log = JetStreamLog::open(&config).await.unwrap();
        Backend {
            kind: Kind::JetStream(config),
            log: Arc::new(log),
        }
    }

    /// Another writer on the same log: a new connection for JetStream, a
    /// new handle otherwise (redb allows one process per file).
    async fn another(&self) -> Arc<dyn EventLog> {
        match &self.kind {
            Kind::JetStream(config) => Arc::new(JetStreamLog::open(config).await.unwrap()),
            Kind::Memory(_) | Kind::Embedded(_) => self.log.clone(),
        }
    }

    /// Drop every handle and open the log again, as a restarted process would.
    async fn restart(&mut self) {
        match &self.kind {
            Kind::Memory(log) => self.log = Arc::new(log.clone()),
            Kind::Embedded(dir) => {
                self.log = Arc::new(MemoryLog::new());
                self.log = Arc::new(EmbeddedLog::open_dir(dir.path()).unwrap());
            }
            Kind::JetStream(config) => {
                self.log = Arc::new(MemoryLog::new());
                self.log = Arc::new(JetStreamLog::open(config).await.unwrap());
            }
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Kind::JetStream(config) = &self.kind {
            // Leave the shared server as we found it (best effort).
            let config = config.clone();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(client) = async_nats::connect(config.url.as_str()).await {
                        let _ = async_nats::jetstream::new(client)
                            .delete_stream(&config.stream)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

// === envelopes ===

fn device(name: &str) -> DeviceId {
    DeviceId::parse(name).unwrap()
}

fn env(dev: &str, seq: u64, node: &str) -> Envelope {
    Envelope {
        schema: SCHEMA_VERSION,
        device: device(dev),
        tenant: TenantId::parse("acme").unwrap(),
        seq,
        at: Timestamp(1_700_000_000_000 + seq),
        node: node.to_owned(),
        correlation: Some(format!("{dev}-{seq}")),
        event: Event::TriggerRequested {
            request: format!("req-{dev}-{seq}"),
        },
        after: None,
    }
}

async fn replay_all(log: &dyn EventLog, from: u64) -> Vec<(u64, Envelope)> {
    log.replay(from)
        .map(|item| item.expect("replay item"))
        .collect()
        .await
}

async fn history(log: &dyn EventLog, dev: &str) -> Vec<Envelope> {
    log.device_history(&device(dev))
        .map(|item| item.expect("history item"))
        .collect()
        .await
}

// === the contract ===

async fn sequences(b: Backend) {
    let log = &*b.log;
    let a = device("router-a");
    assert_eq!(log.last_seq(&a).await.unwrap(), 0);
    let n = log
        .append(
            &a,
            0,
            vec![env("router-a", 1, "n1"), env("router-a", 2, "n1")],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    let n = log
        .append(&a, 2, vec![env("router-a", 3, "n1")])
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(log.last_seq(&a).await.unwrap(), 3);
    assert_eq!(log.last_seq(&device("router-b")).await.unwrap(), 0);
    // A stale writer is refused and told where the log is.
    match log.append(&a, 1, vec![env("router-a", 2, "n2")]).await {
        Err(AppendError::Conflict { actual }) => assert_eq!(actual, 3),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Envelopes that do not follow the expected sequence are refused.
    assert!(matches!(
        log.append(&a, 3, vec![env("router-a", 5, "n1")]).await,
        Err(AppendError::Invalid { .. })
    ));
    let seqs: Vec<u64> = history(log, "router-a")
        .await
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}

async fn concurrent_writers(b: Backend) {
    const WRITERS: usize = 8;
    let mut handles = Vec::new();
    for _ in 0..WRITERS {
        handles.push(b.another().await);
    }
    for round in 0..3u64 {
        let tasks: Vec<_> = handles
            .iter()
            .enumerate()
            .map(|(w, log)| {
                let log = log.clone();
                tokio::spawn(async move {
                    let e = env("contended", round + 1, &format!("writer-{w}"));
                    log.append(&device("contended"), round, vec![e]).await
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(n) => {
                    assert_eq!(n, round + 1);
                    winners += 1;
                }
                Err(AppendError::Conflict { actual }) => assert_eq!(actual, round + 1),
                Err(e) => panic!("round {round}: unexpected error {e}"),
            }
        }
        assert_eq!(winners, 1, "round {round}: exactly one writer must win");
    }
    let stored = history(&*b.log, "contended").await;
    assert_eq!(
        stored.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}

async fn idempotent_retry(b: Backend) {
    let log = &*b.log;
    let d = device("retried");
    let first = vec![env("retried", 1, "n1"), env("retried", 2, "n1")];
    assert_eq!(log.append(&d, 0, first.clone()).await.unwrap(), 2);
    // The acknowledgement was lost; the writer sends the same envelopes again.
    assert_eq!(log.append(&d, 0, first.clone()).await.unwrap(), 2);
    assert_eq!(log.append(&d, 1, first[1..].to_vec()).await.unwrap(), 2);
    // A different envelope under the same sequence is not a retry.
    match log
        .append(&d, 1, vec![env("retried", 2, "other-node")])
        .await
    {
        Err(AppendError::Conflict { actual }) => assert_eq!(actual, 2),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(history(log, "retried").await, first);
    assert_eq!(replay_all(log, 0).await.len(), 2);
}

async fn replay_order(b: Backend) {
    let log = &*b.log;
    let mut appended = Vec::new();
    let mut seqs: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..60u64 {
        let dev = format!("dev-{}", (i * 7) % 5);
        let seq = seqs.entry(dev.clone()).or_default();
        let e = env(&dev, *seq + 1, "n1");
        log.append(&device(&dev), *seq, vec![e.clone()])
            .await
            .unwrap();
        *seq += 1;
        appended.push(e);
    }
    let all = replay_all(log, 0).await;
    let globals: Vec<u64> = all.iter().map(|(g, _)| *g).collect();
    assert!(globals.windows(2).all(|w| w[0] < w[1]), "{globals:?}");
    let envs: Vec<Envelope> = all.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(envs, appended);
    // From a position: exactly the suffix.
    let (g20, _) = &all[20];
    let suffix = replay_all(log, *g20).await;
    assert_eq!(suffix, all[20..].to_vec());
    assert!(replay_all(log, globals[59] + 1).await.is_empty());
}

async fn one_device_among_many(b: Backend) {
    let log = &*b.log;
    for seq in 1..=5u64 {
        for d in 0..20 {
            let dev = format!("fleet-{d}");
            log.append(&device(&dev), seq - 1, vec![env(&dev, seq, "n1")])
                .await
                .unwrap();
        }
    }
    let h = history(log, "fleet-7").await;
    assert_eq!(
        h,
        (1..=5).map(|s| env("fleet-7", s, "n1")).collect::<Vec<_>>()
    );
    // A device whose name is a prefix of others sees only its own events.
    let h1 = history(log, "fleet-1").await;
    assert!(h1.iter().all(|e| e.device.as_str() == "fleet-1"));
    assert_eq!(h1.len(), 5);
    assert!(history(log, "nobody").await.is_empty());
}

async fn tail_without_gaps(b: Backend) {
    let log = b.log.clone();
    for seq in 1..=3u64 {
        log.append(&device("early"), seq - 1, vec![env("early", seq, "n1")])
            .await
            .unwrap();
    }
    let before = replay_all(&*log, 0).await;
    let next = before.last().unwrap().0 + 1;
    // One tail from the middle of the existing events, one from the end.
    let mut from_middle = log.tail(before[1].0);
    let mut from_end = log.tail(next);
    let writer = b.another().await;
    const NEW: u64 = 150;
    let task = tokio::spawn(async move {
        let mut seqs = [0u64; 10];
        for i in 0..NEW {
            let d = (i % 10) as usize;
            let dev = format!("live-{d}");
            let e = env(&dev, seqs[d] + 1, "n2");
            writer
                .append(&device(&dev), seqs[d], vec![e])
                .await
                .unwrap();
            seqs[d] += 1;
        }
    });
    let mut seen = Vec::new();
    while (seen.len() as u64) < NEW {
        let item = tokio::time::timeout(Duration::from_secs(20), from_end.next())
            .await
            .expect("tail stalled")
            .expect("tail ended")
            .unwrap();
        seen.push(item);
    }
    task.await.unwrap();
    let after = replay_all(&*log, next).await;
    assert_eq!(
        seen, after,
        "the tail saw exactly what was appended, in order"
    );
    let globals: Vec<u64> = seen.iter().map(|(g, _)| *g).collect();
    assert!(
        globals.windows(2).all(|w| w[1] == w[0] + 1),
        "no gaps: {globals:?}"
    );
    let mut middle = Vec::new();
    while middle.len() < 2 + NEW as usize {
        let item = tokio::time::timeout(Duration::from_secs(20), from_middle.next())
            .await
            .expect("tail stalled")
            .expect("tail ended")
            .unwrap();
        middle.push(item);
    }
    assert_eq!(middle[..2], before[1..]);
    assert_eq!(middle[2..], seen[..]);
}

async fn restart_loses_nothing(mut b: Backend) {
    let mut acked = Vec::new();
    for seq in 1..=20u64 {
        for dev in ["keep-a", "keep-b"] {
            let e = env(dev, seq, "n1");
            b.log
                .append(&device(dev), seq - 1, vec![e.clone()])
                .await
                .unwrap();
            acked.push(e);
        }
    }
    b.restart().await;
    let replayed: Vec<Envelope> = replay_all(&*b.log, 0)
        .await
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    assert_eq!(replayed, acked);
    assert_eq!(b.log.last_seq(&device("keep-b")).await.unwrap(), 20);
    // And the restarted process carries on from there.
    assert_eq!(
        b.log
            .append(&device("keep-a"), 20, vec![env("keep-a", 21, "n1")])
            .await
            .unwrap(),
        21
    );
    assert!(matches!(
        b.log
            .append(&device("keep-b"), 19, vec![env("keep-b", 20, "n9")])
            .await,
        Err(AppendError::Conflict { actual: 20 })
    ));
}

/// Reads that began before a compaction end, at the log's end as it was,
/// though events they counted on were removed while they read: a replay
/// of the whole log and a device's history (with another device's event
/// after its last).
async fn a_read_across_a_compaction_ends(b: Backend) {
    const EVENTS: u64 = 20_000;
    let log = &*b.log;
    let a = device("router-a");
    for start in (1..=EVENTS).step_by(1000) {
        let batch = (start..start + 1000)
            .map(|s| env("router-a", s, "n1"))
            .collect();
        log.append(&a, start - 1, batch).await.unwrap();
    }
    log.append(&device("router-b"), 0, vec![env("router-b", 1, "n1")])
        .await
        .unwrap();
    let mut replay = log.replay(0).map(|item| item.unwrap().1);
    let mut history = log.device_history(&a).map(|item| item.unwrap());
    assert_eq!(replay.next().await.unwrap().seq, 1);
    assert_eq!(history.next().await.unwrap().seq, 1);
    let removed = log.compact(&a, EVENTS - 10).await.unwrap();
    assert_eq!(removed, EVENTS - 11);
    let rest = |stream: futures::stream::BoxStream<'static, Envelope>| async move {
        tokio::time::timeout(Duration::from_secs(60), stream.collect::<Vec<_>>())
            .await
            .expect("the read ends though events were removed under it")
    };
    let replayed = rest(replay.boxed()).await;
    let last = replayed.last().unwrap();
    assert_eq!((last.device.as_str(), last.seq), ("router-b", 1));
    let of_a: Vec<u64> = replayed
        .iter()
        .filter(|e| e.device == a)
        .map(|e| e.seq)
        .collect();
    assert!(of_a.windows(2).all(|w| w[0] < w[1]), "in order");
    assert_eq!(of_a.last(), Some(&EVENTS), "up to the last event");
    let told = rest(history.boxed()).await;
    assert_eq!(told.last().unwrap().seq, EVENTS);
    assert_eq!(
        replay_all(log, 0).await.len(),
        12,
        "what the compaction left"
    );
}

/// What a compaction pass reads of a device: its events older than the
/// cut-off and the first one that is not, nothing of another device;
/// then a compaction keeps the last event whatever it is asked.
async fn oldest_events_stop_at_the_cutoff(b: Backend) {
    let log = &*b.log;
    let a = device("router-a");
    let batch = (1..=10).map(|s| env("router-a", s, "n1")).collect();
    log.append(&a, 0, batch).await.unwrap();
    log.append(&device("router-b"), 0, vec![env("router-b", 1, "n1")])
        .await
        .unwrap();
    let seqs = |events: Vec<Envelope>| events.iter().map(|e| e.seq).collect::<Vec<_>>();
    // `env` stamps sequence n at T0 + n ms.
    let cutoff = Timestamp(1_700_000_000_000 + 4);
    let oldest = log.oldest_events(&a, cutoff).await.unwrap();
    assert_eq!(seqs(oldest), vec![1, 2, 3, 4]);
    let all = log.oldest_events(&a, Timestamp(u64::MAX)).await.unwrap();
    assert_eq!(
        seqs(all),
        (1..=10).collect::<Vec<_>>(),
        "all old: all of them"
    );
    let none = log.oldest_events(&device("nobody"), cutoff).await.unwrap();
    assert!(none.is_empty());
    if matches!(b.kind, Kind::Memory(_)) {
        return;
    }
    assert_eq!(log.compact(&a, 4).await.unwrap(), 3);
    assert_eq!(seqs(log.oldest_events(&a, cutoff).await.unwrap()), vec![4]);
    assert_eq!(log.compact(&a, 99).await.unwrap(), 6, "the last one stays");
    assert_eq!(seqs(history(log, "router-a").await), vec![10]);
    assert_eq!(log.compact(&a, 99).await.unwrap(), 0);
    assert_eq!(
        history(log, "router-b").await.len(),
        1,
        "another device untouched"
    );
}

macro_rules! conformance {
    ($check:ident: $($backend:ident),+) => {
        mod $check {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $backend() {
                    super::$check(super::Backend::$backend(stringify!($check)).await).await
                }
            )+
        }
    };
}

conformance!(sequences: memory, embedded, jetstream);
conformance!(concurrent_writers: memory, embedded, jetstream);
conformance!(idempotent_retry: memory, embedded, jetstream);
conformance!(replay_order: memory, embedded, jetstream);
conformance!(one_device_among_many: memory, embedded, jetstream);
conformance!(tail_without_gaps: memory, embedded, jetstream);
conformance!(restart_loses_nothing: embedded, jetstream);
conformance!(a_read_across_a_compaction_ends: embedded, jetstream);
conformance!(oldest_events_stop_at_the_cutoff: memory, embedded, jetstream);

// === bad input and bad set-ups ===

/// An undecodable record stops nothing by itself: the stream names it and
/// goes on (replay decides whether to stop or skip).
#[tokio::test]
async fn jetstream_undecodable_event_is_named() {
    let b = Backend::jetstream("undecodable").await;
    let Kind::JetStream(config) = &b.kind else {
        unreachable!()
    };
    b.log
        .append(&device("good"), 0, vec![env("good", 1, "n1")])
        .await
        .unwrap();
    let client = async_nats::connect(config.url.as_str()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let bad_subject = format!("{}.acme.broken", config.subject_prefix);
    let ack = js
        .publish(bad_subject.clone(), "{not json".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let mut newer = env("broken", 2, "n1");
    newer.schema = SCHEMA_VERSION + 1;
    let ack2 = js
        .publish(
            bad_subject.clone(),
            serde_json::to_vec(&newer).unwrap().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    b.log
        .append(&device("good"), 1, vec![env("good", 2, "n1")])
        .await
        .unwrap();
    let items: Vec<_> = b.log.replay(0).collect().await;
    assert_eq!(items.len(), 4);
    for (item, seq) in [(&items[1], ack.sequence), (&items[2], ack2.sequence)] {
        match item {
            Err(
                e @ StoreError::Decode {
                    location, seq: s, ..
                },
            ) => {
                assert!(location.contains(&bad_subject), "{location}");
                assert_eq!(*s, seq);
                assert!(e.to_string().contains(&bad_subject));
            }
            other => panic!("expected a decode error, got {other:?}"),
        }
    }
    assert!(
        matches!(&items[2], Err(StoreError::Decode { source, .. }) if source.to_string().contains("newer"))
    );
    assert!(items[3].is_ok());
}

#[tokio::test]
async fn embedded_undecodable_event_is_named() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EmbeddedLog::open_dir(dir.path()).unwrap();
        log.append(&device("good"), 0, vec![env("good", 1, "n1")])
            .await
            .unwrap();
    }
    {
        // Damage the record behind the log's back.
        let db = redb::Database::create(dir.path().join("events.redb")).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx
                .open_table(redb::TableDefinition::<u64, &[u8]>::new("events"))
                .unwrap();
            t.insert(1, b"garbage".as_slice()).unwrap();
        }
        tx.commit().unwrap();
    }
    let log = EmbeddedLog::open_dir(dir.path()).unwrap();
    let items: Vec<_> = log.replay(0).collect().await;
    match &items[..] {
        [
            Err(StoreError::Decode {
                location, seq: 1, ..
            }),
        ] => {
            assert!(location.contains("events key 1"), "{location}")
        }
        other => panic!("expected one decode error, got {other:?}"),
    }
}

/// Opening a log on the server at `port` fails as unavailable, naming it,
/// within the connect timeout and a small margin.
async fn assert_open_fails_within_the_timeout(port: u16) {
    let mut config = JetStreamConfig::new(format!("nats://127.0.0.1:{port}"));
    config.connect_timeout = Duration::from_secs(2);
    #[allow(clippy::disallowed_methods)] // measuring the real connect time is the point
    let started = std::time::Instant::now();
    let err = JetStreamLog::open(&config).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    assert!(
        elapsed < config.connect_timeout + Duration::from_millis(1_500),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn jetstream_unreachable_server_fails_fast() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert_open_fails_within_the_timeout(port).await;
}

/// A server that accepts the connection and never speaks: the open gives
/// up at the connect timeout, not later.
#[tokio::test]
async fn jetstream_silent_server_fails_within_the_connect_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    assert_open_fails_within_the_timeout(port).await;
    silent.abort();
}

/// What a pre-existing stream is set up with, for one row of the refusal table.
struct BadStream {
    what: &'static str,
    /// The stream as someone else created it (from a config with our name
    /// and subjects and the server's defaults).
    set_up: fn(&mut async_nats::jetstream::stream::Config, &str),
    /// Changed after creation (some settings can only be updated).
    then: Option<fn(&mut async_nats::jetstream::stream::Config)>,
    /// The opener: a writer (the daemon) or a reader (`confkeep replay`),
    /// and the max_age it is configured with.
    read_only: bool,
    max_age: Option<Duration>,
    /// The setting the refusal must name (`None`: the stream is accepted),
    /// and a word its message must hold.
    refused: Option<(&'static str, &'static str)>,
}

#[tokio::test]
async fn jetstream_refuses_streams_that_break_the_contract() {
    use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType};
    const DAY: Duration = Duration::from_secs(86_400);
    let row = |what, set_up, refused| BadStream {
        what,
        set_up,
        then: None,
        read_only: false,
        max_age: None,
        refused,
    };
    let rows = [
        row(
            "subjects elsewhere",
            |c, name| c.subjects = vec![format!("other.{name}.>")],
            Some(("subjects", "does not cover")),
        ),
        row(
            "subjects of one tenant only",
            |c, _| c.subjects = vec![c.subjects[0].replace(".>", ".acme.>")],
            Some(("subjects", "does not cover")),
        ),
        row(
            "work-queue retention",
            |c, _| c.retention = RetentionPolicy::WorkQueue,
            Some(("retention", "WorkQueue")),
        ),
        row(
            "interest retention",
            |c, _| c.retention = RetentionPolicy::Interest,
            Some(("retention", "Interest")),
        ),
        row(
            "memory storage",
            |c, _| c.storage = StorageType::Memory,
            Some(("storage", "memory")),
        ),
        row(
            "discard old with max_msgs",
            |c, _| c.max_messages = 1_000,
            Some(("discard", "max_msgs = 1000")),
        ),
        row(
            "discard old with max_bytes",
            |c, _| c.max_bytes = 1 << 30,
            Some(("discard", "max_bytes")),
        ),
        row(
            "discard old with max_msgs_per_subject",
            |c, _| c.max_messages_per_subject = 10,
            Some(("discard", "max_msgs_per_subject = 10")),
        ),
        row(
            "max_msgs_per_subject with discard new",
            |c, _| {
                c.discard = DiscardPolicy::New;
                c.max_messages_per_subject = 10;
            },
            Some(("max_msgs_per_subject", "caps each device")),
        ),
        row(
            "discard new with max_msgs (full refuses, never drops)",
            |c, _| {
                c.discard = DiscardPolicy::New;
                c.max_messages = 1_000;
            },
            None,
        ),
        row(
            "max_age set, configured forever",
            |c, _| c.max_age = DAY,
            Some(("max_age", "forever")),
        ),
        BadStream {
            max_age: Some(DAY),
            ..row(
                "max_age forever, configured a day",
                |_, _| {},
                Some(("max_age", "86400")),
            )
        },
        BadStream {
            max_age: Some(DAY),
            ..row("max_age as configured", |c, _| c.max_age = DAY, None)
        },
        BadStream {
            read_only: true,
            ..row("max_age, read only", |c, _| c.max_age = DAY, None)
        },
        BadStream {
            read_only: true,
            ..row(
                "discard old with max_msgs, read only",
                |c, _| c.max_messages = 1_000,
                Some(("discard", "max_msgs")),
            )
        },
        row(
            "no_ack",
            |c, _| c.no_ack = true,
            Some(("no_ack", "acknowledged")),
        ),
        BadStream {
            then: Some(|c| c.sealed = true),
            ..row("sealed", |_, _| {}, Some(("sealed", "refuses appends")))
        },
        BadStream {
            then: Some(|c| c.sealed = true),
            read_only: true,
            ..row("sealed, read only", |_, _| {}, None)
        },
    ];
    keep_account_alive(&nats_url()).await;
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    for row in rows {
        let name = unique("refuse");
        let mut config = JetStreamConfig::new(nats_url());
        config.stream = format!("CONFORMANCE_{name}");
        config.subject_prefix = format!("conformance.{}", name.to_lowercase());
        config.read_only = row.read_only;
        config.max_age = row.max_age;
        let mut stream = Config {
            name: config.stream.clone(),
            subjects: vec![format!("{}.>", config.subject_prefix)],
            ..Default::default()
        };
        (row.set_up)(&mut stream, &name.to_lowercase());
        js.create_stream(stream.clone())
            .await
            .unwrap_or_else(|e| panic!("{}: cannot create the stream: {e}", row.what));
        if let Some(then) = row.then {
            then(&mut stream);
            js.update_stream(&stream)
                .await
                .unwrap_or_else(|e| panic!("{}: cannot update the stream: {e}", row.what));
        }
        let opened = JetStreamLog::open(&config).await;
        js.delete_stream(&config.stream).await.unwrap();
        match (row.refused, opened) {
            (None, Ok(_)) => {}
            (None, Err(e)) => panic!("{}: refused: {e}", row.what),
            (Some((setting, _)), Ok(_)) => {
                panic!(
                    "{}: accepted, expected a refusal naming {setting}",
                    row.what
                )
            }
            (Some((want, word)), Err(err)) => {
                match &err {
                    StoreError::Misconfigured { setting, .. } => {
                        assert_eq!(setting, want, "{}: {err}", row.what)
                    }
                    other => panic!("{}: expected a refusal, got {other:?}", row.what),
                }
                let text = err.to_string();
                assert!(
                    text.contains(&format!("setting {want} ")),
                    "{}: {text}",
                    row.what
                );
                assert!(text.contains(&config.stream), "{}: {text}", row.what);
                assert!(text.contains(word), "{}: {text}", row.what);
            }
        }
    }
}

/// A mirror is refused as such, not for the subjects it cannot have.
#[tokio::test]
async fn jetstream_refuses_a_mirror() {
    use async_nats::jetstream::stream::{Config, Source};
    keep_account_alive(&nats_url()).await;
    let name = unique("mirror");
    let mut config = JetStreamConfig::new(nats_url());
    config.stream = format!("CONFORMANCE_{name}");
    config.subject_prefix = format!("conformance.{}", name.to_lowercase());
    let origin = format!("{}_ORIGIN", config.stream);
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.create_stream(Config {
        name: origin.clone(),
        subjects: vec![format!("{}.>", config.subject_prefix)],
        ..Default::default()
    })
    .await
    .unwrap();
    js.create_stream(Config {
        name: config.stream.clone(),
        mirror: Some(Source {
            name: origin.clone(),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let err = JetStreamLog::open(&config).await.unwrap_err();
    js.delete_stream(&config.stream).await.unwrap();
    js.delete_stream(&origin).await.unwrap();
    match &err {
        StoreError::Misconfigured { setting, .. } => assert_eq!(setting, "mirror", "{err}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The subject an envelope of tenant `acme` is stored on.
fn subject_of(config: &JetStreamConfig, dev: &str) -> String {
    format!("{}.acme.{dev}", config.subject_prefix)
}

/// Every append carries `Nats-Msg-Id = <device>/<seq>` and the fence
/// `Nats-Expected-Last-Subject-Sequence` (the stream sequence of the
/// device's previous event).
#[tokio::test]
async fn jetstream_append_headers_name_the_event() {
    let b = Backend::jetstream("headers").await;
    let Kind::JetStream(config) = &b.kind else {
        unreachable!()
    };
    let d = device("hdr");
    b.log
        .append(&d, 0, vec![env("hdr", 1, "n1"), env("hdr", 2, "n1")])
        .await
        .unwrap();
    b.log
        .append(&device("other"), 0, vec![env("other", 1, "n1")])
        .await
        .unwrap();
    b.log
        .append(&d, 2, vec![env("hdr", 3, "n1")])
        .await
        .unwrap();
    let client = async_nats::connect(config.url.as_str()).await.unwrap();
    let stream = async_nats::jetstream::new(client)
        .get_stream(&config.stream)
        .await
        .unwrap();
    let mut previous = 0;
    for (global, e) in replay_all(&*b.log, 0).await {
        let stored = stream.get_raw_message(global).await.unwrap();
        assert_eq!(
            stored.subject.as_str(),
            subject_of(config, e.device.as_str())
        );
        let header = |name: &str| {
            stored
                .headers
                .get(name)
                .unwrap_or_else(|| panic!("sequence {global}: no {name} in {:?}", stored.headers))
                .as_str()
                .to_owned()
        };
        assert_eq!(header("Nats-Msg-Id"), format!("{}/{}", e.device, e.seq));
        if e.device == d {
            assert_eq!(
                header("Nats-Expected-Last-Subject-Sequence"),
                previous.to_string(),
                "sequence {global}"
            );
            previous = global;
        }
    }
}

/// Publish `e` by hand exactly as `append` would (same bytes, same
/// headers): the first try of an append whose acknowledgement was lost.
async fn publish_as_append(
    js: &async_nats::jetstream::Context,
    config: &JetStreamConfig,
    e: &Envelope,
    fence: u64,
) -> u64 {
    let msg = async_nats::jetstream::message::PublishMessage::build()
        .payload(e.encode().unwrap().into())
        .message_id(format!("{}/{}", e.device, e.seq))
        .expected_last_subject_sequence(fence);
    js.send_publish(subject_of(config, e.device.as_str()), msg)
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence
}

async fn stored_messages(js: &async_nats::jetstream::Context, config: &JetStreamConfig) -> u64 {
    let mut stream = js.get_stream(&config.stream).await.unwrap();
    stream.info().await.unwrap().state.messages
}

/// A retried append after a lost acknowledgement is not duplicated: by the
/// same process (it knows the fence), by a new one (it does not), and after
/// the server's duplicate window has passed.
#[tokio::test]
async fn jetstream_retry_after_a_lost_ack_is_not_duplicated() {
    let b = Backend::jetstream("lost_ack").await;
    let Kind::JetStream(config) = &b.kind else {
        unreachable!()
    };
    let client = async_nats::connect(config.url.as_str()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let d = device("lost");
    let all: Vec<Envelope> = (1..=4).map(|s| env("lost", s, "n1")).collect();

    let s1 = b.log.append(&d, 0, all[..1].to_vec()).await.unwrap();
    assert_eq!(s1, 1);
    let g1 = replay_all(&*b.log, 0).await[0].0;
    // The same process: the append reached the stream, its ack did not.
    let g2 = publish_as_append(&js, config, &all[1], g1).await;
    assert_eq!(b.log.append(&d, 1, all[1..2].to_vec()).await.unwrap(), 2);
    assert_eq!(stored_messages(&js, config).await, 2);
    // Its view of the fence is right: the next append goes through.
    assert_eq!(b.log.append(&d, 2, all[2..3].to_vec()).await.unwrap(), 3);
    let g3 = replay_all(&*b.log, 0).await[2].0;
    assert!(g3 > g2);
    // A new process (a restarted daemon) retries the append of the old one.
    publish_as_append(&js, config, &all[3], g3).await;
    let restarted = b.another().await;
    assert_eq!(restarted.append(&d, 3, all[3..].to_vec()).await.unwrap(), 4);
    assert_eq!(stored_messages(&js, config).await, 4);
    assert_eq!(history(&*b.log, "lost").await, all);
}

#[tokio::test]
async fn jetstream_retry_after_the_duplicate_window_is_not_duplicated() {
    keep_account_alive(&nats_url()).await;
    let name = unique("lost_ack_late");
    let mut config = JetStreamConfig::new(nats_url());
    config.stream = format!("CONFORMANCE_{name}");
    config.subject_prefix = format!("conformance.{}", name.to_lowercase());
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: config.stream.clone(),
        subjects: vec![format!("{}.>", config.subject_prefix)],
        duplicate_window: Duration::from_millis(200),
        ..Default::default()
    })
    .await
    .unwrap();
    let b = Backend {
        log: Arc::new(JetStreamLog::open(&config).await.unwrap()),
        kind: Kind::JetStream(config.clone()),
    };
    let d = device("late");
    let all: Vec<Envelope> = (1..=2).map(|s| env("late", s, "n1")).collect();
    publish_as_append(&js, &config, &all[0], 0).await;
    // Past the window the server no longer knows the Msg-Id: only the stored
    // bytes tell a retry from a rival writer.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(b.log.append(&d, 0, all[..1].to_vec()).await.unwrap(), 1);
    assert_eq!(stored_messages(&js, &config).await, 1);
    assert_eq!(b.log.append(&d, 1, all[1..].to_vec()).await.unwrap(), 2);
    assert_eq!(history(&*b.log, "late").await, all);
}

/// JetStream files a device under its tenant's subject; a later event under
/// another tenant is refused by name instead of breaking the sequence.
#[tokio::test]
async fn jetstream_refuses_a_device_changing_tenant() {
    let b = Backend::jetstream("tenant_move").await;
    let d = device("mover");
    b.log
        .append(&d, 0, vec![env("mover", 1, "n1")])
        .await
        .unwrap();
    let mut moved = env("mover", 2, "n1");
    moved.tenant = TenantId::parse("other").unwrap();
    match b.log.append(&d, 1, vec![moved]).await {
        Err(e @ AppendError::Invalid { .. }) => {
            assert!(e.to_string().contains("between tenants"), "{e}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(b.log.last_seq(&d).await.unwrap(), 1);
}

/// Two writers enrolling the same new device under two tenants: the second
/// is refused by name (its Msg-Id is the first one's), not filed twice.
#[tokio::test]
async fn jetstream_refuses_a_new_device_under_a_second_tenant() {
    let b = Backend::jetstream("tenant_race").await;
    let d = device("twice");
    b.log
        .append(&d, 0, vec![env("twice", 1, "n1")])
        .await
        .unwrap();
    let mut other = env("twice", 1, "n2");
    other.tenant = TenantId::parse("other").unwrap();
    let rival = b.another().await;
    match rival.append(&d, 0, vec![other]).await {
        Err(e @ AppendError::Invalid { .. }) => {
            assert!(e.to_string().contains("between tenants"), "{e}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(history(&*b.log, "twice").await, vec![env("twice", 1, "n1")]);
}
