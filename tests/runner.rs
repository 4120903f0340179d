//! The runner against parts that fail: an event log that refuses appends
//! (a full disk), a snapshot store that cannot take snapshots, and another
//! writer that moved a device behind the runner's back.
//!
//! In virtual time (`start_paused`): the runner's clock reads tokio's
//! clock, so pauses and backoffs pass at once and every figure is exact.
//! The log is the in-memory backend wrapped to fail on demand, and the
//! attempts are a scripted executor: no servers, no SSH — what is under
//! test is the runner's handling of outcomes and of the log. What the log
//! holds is read the way the daemon reads it: through the projector.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confkeep::domain::health::Health;
use confkeep::domain::{
    DeviceId, Envelope, Event, FailureKind, Outcome, PhaseKind, RequestId, RetryPolicy, TenantId,
    Timestamp, TriggerReply,
};
use confkeep::effects::runner::{
    AttemptExecutor, Clock, Command, DesiredDevice, Runner, RunnerConfig, RunnerHandle,
};
use confkeep::projections::projector::Projector;
use confkeep::projections::status::StatusBoard;
use confkeep::store::{AppendError, EventLog, GlobalSeq, MemoryLog, Positioned, StoreError};
use futures::future::BoxFuture;
use futures::stream::BoxStream;

/// Wall time as tokio sees it: virtual under `start_paused`.
struct TokioClock(tokio::time::Instant);

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        #[allow(clippy::disallowed_methods)] // the test's clock is tokio's virtual one
        let elapsed = tokio::time::Instant::now() - self.0;
        Timestamp(1_700_000_000_000 + elapsed.as_millis() as u64)
    }
}

/// The memory log, refusing appends while `down` (as a full disk would);
/// with `blind_tail`, its tail never brings anything (as a tail that lags
/// behind would), so that only an append's conflict tells the runner.
struct FailingLog {
    inner: MemoryLog,
    down: AtomicBool,
    blind_tail: bool,
}

impl EventLog for FailingLog {
    fn append<'a>(
        &'a self,
        device: &'a DeviceId,
        expected_seq: u64,
        events: Vec<Envelope>,
    ) -> BoxFuture<'a, Result<u64, AppendError>> {
        if self.down.load(Ordering::SeqCst) {
            return Box::pin(async {
                Err(AppendError::Store(StoreError::unavailable(
                    "No space left on device (os error 28)",
                )))
            });
        }
        self.inner.append(device, expected_seq, events)
    }
    fn last_seq<'a>(&'a self, device: &'a DeviceId) -> BoxFuture<'a, Result<u64, StoreError>> {
        self.inner.last_seq(device)
    }
    fn replay(&self, from: GlobalSeq) -> BoxStream<'static, Result<Positioned, StoreError>> {
        self.inner.replay(from)
    }
    fn device_history(
        &self,
        device: &DeviceId,
    ) -> BoxStream<'static, Result<Envelope, StoreError>> {
        self.inner.device_history(device)
    }
    fn tail(&self, from: GlobalSeq) -> BoxStream<'static, Result<Positioned, StoreError>> {
        if self.blind_tail {
            return Box::pin(futures::stream::pending());
        }
        self.inner.tail(from)
    }
}

/// Attempts that fail to publish their snapshot for the first
/// `publish_failures` calls, then collect; every call is timed.
struct Scripted {
    publish_failures: usize,
    calls: AtomicUsize,
    at: Mutex<Vec<Timestamp>>,
    clock: Arc<TokioClock>,
}

impl AttemptExecutor for Scripted {
    fn execute(&self, job: confkeep::domain::AttemptRequest) -> BoxFuture<'static, Outcome> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut at) = self.at.lock() {
            at.push(self.clock.now());
        }
        let fail = n < self.publish_failures;
        Box::pin(async move {
            if fail {
                Outcome::Failed {
                    kind: FailureKind::PublishFailed,
                    message: "snapshots/t/d: No space left on device (os error 28)".into(),
                    learned: Default::default(),
                }
            } else {
                Outcome::Collected {
                    sha256: "ab".repeat(32),
                    bytes: 100,
                    host_key: format!("SHA256:key-of-{}", job.device),
                    duration_ms: 5,
                    routeros_version: Some("7.16".into()),
                    stored_apart: None,
                }
            }
        })
    }
}

type Watched = (Health, Vec<Health>, usize);

/// Health changes (every one) and successes (as the log says), with a way
/// to wait for either.
fn watch(runner: &Runner, log: Arc<FailingLog>) -> tokio::sync::watch::Receiver<Watched> {
    let (tx, rx) = tokio::sync::watch::channel((Health::default(), Vec::new(), 0));
    let mut health = runner.health();
    let board = Arc::new(Mutex::new(StatusBoard::new()));
    let projector = Projector::new(log, board.clone());
    let mut folded = projector.folded();
    tokio::spawn(projector.follow(std::future::pending()));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                r = health.changed() => {
                    if r.is_err() { break; }
                    let h = health.borrow_and_update().clone();
                    tx.send_modify(|(now, seen, _)| {
                        *now = h.clone();
                        seen.push(h);
                    });
                }
                r = folded.changed() => {
                    if r.is_err() { break; }
                    folded.borrow_and_update();
                    let ok = board.lock().map(|b| b.backups().0).unwrap_or(0) as usize;
                    tx.send_modify(|(_, _, n)| *n = ok);
                }
            }
        }
    });
    rx
}

struct Rig {
    handle: RunnerHandle,
    watch: tokio::sync::watch::Receiver<Watched>,
    followed: tokio::sync::watch::Receiver<u64>,
    executor: Arc<Scripted>,
    log: Arc<FailingLog>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<confkeep::effects::runner::RunReport>,
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        jitter_min_secs: 0,
        jitter_max_secs: 0,
        max_concurrent: 1,
        ..RetryPolicy::default()
    }
}

fn id(s: &str) -> DeviceId {
    DeviceId::parse(s).unwrap()
}

async fn rig(log_down: bool, publish_failures: usize) -> Rig {
    rig_with(log_down, publish_failures, false).await
}

async fn rig_with(log_down: bool, publish_failures: usize, blind_tail: bool) -> Rig {
    #[allow(clippy::disallowed_methods)] // tokio's virtual clock
    let clock = Arc::new(TokioClock(tokio::time::Instant::now()));
    let log = Arc::new(FailingLog {
        inner: MemoryLog::new(),
        down: AtomicBool::new(log_down),
        blind_tail,
    });
    let executor = Arc::new(Scripted {
        publish_failures,
        calls: AtomicUsize::new(0),
        at: Mutex::new(Vec::new()),
        clock: clock.clone(),
    });
    let mut runner = Runner::new(
        log.clone(),
        executor.clone(),
        clock,
        RunnerConfig {
            node: "test".into(),
            store_retry: Duration::from_secs(1),
            snapshot_retry_max: Duration::from_secs(8),
            jitter_seed: Some(7),
            ..RunnerConfig::default()
        },
    );
    let watch = watch(&runner, log.clone());
    let followed = runner.followed();
    runner.replay().await.unwrap();
    let handle = runner.handle();
    let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(runner.run(async move {
        let _ = stop_rx.changed().await;
    }));
    Rig {
        handle,
        watch,
        followed,
        executor,
        log,
        stop,
        task,
    }
}

fn enrol(rig: &Rig, n: usize) {
    let tenant = TenantId::parse("t").unwrap();
    let devices = (0..n)
        .map(|i| DesiredDevice {
            device: id(&format!("r{i}")),
            tenant: tenant.clone(),
            host: format!("192.0.2.{}", i + 1),
            port: 22,
            policy: policy(),
            tags: Vec::new(),
            credentials: String::new(),
            known_host_key: None,
        })
        .collect();
    rig.handle.send(Command::Reconcile { devices });
}

/// Every device's log runs 1, 2, 3, … without a gap or a repeat.
fn assert_no_gaps(log: &MemoryLog, n: usize) {
    for i in 0..n {
        let seqs: Vec<u64> = log
            .history_sync(&id(&format!("r{i}")))
            .iter()
            .map(|e| e.seq)
            .collect();
        assert!(!seqs.is_empty(), "r{i} has no events");
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "r{i}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_unavailable_log_stops_attempts_says_so_once_and_resumes() {
    let mut rig = rig(true, 0).await;
    enrol(&rig, 3);
    let outage = rig
        .watch
        .wait_for(|(h, _, _)| h.event_log.is_some())
        .await
        .unwrap()
        .0
        .event_log
        .clone()
        .unwrap();
    assert!(outage.error.contains("No space left"), "{}", outage.error);
    // Let the runner retry against the full disk for a while.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        rig.executor.calls.load(Ordering::SeqCst),
        0,
        "no attempt may start"
    );
    assert!(rig.log.inner.is_empty(), "nothing was recorded");
    // Space is back: every device is enrolled and backed up.
    rig.log.down.store(false, Ordering::SeqCst);
    rig.watch.wait_for(|(_, _, ok)| *ok >= 3).await.unwrap();
    let (now, seen, _) = rig.watch.borrow().clone();
    assert!(now.is_ok(), "{now:?}");
    // One report of the outage and one of its end, not one per retry.
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_no_gaps(&rig.log.inner, 3);
    let _ = rig.stop.send(true);
    rig.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn snapshots_that_cannot_be_published_pause_attempts_with_a_growing_pause() {
    let mut rig = rig(false, 4).await;
    enrol(&rig, 6);
    rig.watch.wait_for(|(_, _, ok)| *ok >= 2).await.unwrap();
    let (now, seen, _) = rig.watch.borrow().clone();
    assert!(now.is_ok(), "the outage ended with a success: {now:?}");
    let outage = seen
        .iter()
        .find_map(|h| h.snapshots.clone())
        .expect("the outage was reported");
    assert!(outage.error.contains("No space left"), "{}", outage.error);
    let at = rig.executor.at.lock().unwrap().clone();
    // Four failures, each followed by a pause of 1, 2, 4, 8 s (the cap)
    // before the next attempt; then the fleet goes on without pauses.
    let gaps: Vec<u64> = at.windows(2).map(|w| w[1].millis_since(w[0])).collect();
    for (i, want) in [1_000, 2_000, 4_000, 8_000].iter().enumerate() {
        assert!(gaps[i] >= *want, "gap {i}: {gaps:?}");
    }
    assert_eq!(gaps.len(), 5, "six attempts: {gaps:?}");
    assert!(gaps[4] < 1_000, "no pause after a success: {gaps:?}");
    let _ = rig.stop.send(true);
    rig.task.await.unwrap();
    assert_no_gaps(&rig.log.inner, 6);
    // The devices whose publish failed back off (a transient failure).
    let failed: Vec<_> = (0..6)
        .filter_map(|i| {
            let h = rig.log.inner.history_sync(&id(&format!("r{i}")));
            h.last().and_then(|e| e.after.clone()).map(|a| a.phase)
        })
        .filter(|p| *p == PhaseKind::Backoff)
        .collect();
    assert_eq!(failed.len(), 4);
}

/// Another daemon retires `device` behind the runner's back; then the
/// runner is asked for a backup of it: the log says it is gone.
async fn retire_behind_its_back(rig: &Rig, device: &DeviceId) {
    let last = rig.log.inner.history_sync(device).pop().unwrap();
    let retired = common::next_from(&last, "other", Event::Retired);
    rig.log
        .inner
        .append(device, retired.seq - 1, vec![retired])
        .await
        .unwrap();
}

async fn trigger_finds_it_gone(rig: &Rig, device: &DeviceId) {
    let reply = rig
        .handle
        .trigger(device.clone(), RequestId::from("req-1"))
        .await
        .unwrap();
    assert_eq!(reply, TriggerReply::NotFound);
}

#[tokio::test(start_paused = true)]
async fn another_writers_event_is_followed_from_the_tail_not_overwritten() {
    let mut rig = rig(false, 0).await;
    enrol(&rig, 1);
    rig.watch.wait_for(|(_, _, ok)| *ok >= 1).await.unwrap();
    // Another daemon retires the device behind our back.
    let device = id("r0");
    retire_behind_its_back(&rig, &device).await;
    // The runner folds the retirement from the log's tail (no conflict
    // needed to see it) and answers as the log says.
    rig.followed.wait_for(|n| *n >= 1).await.unwrap();
    trigger_finds_it_gone(&rig, &device).await;
    let history = rig.log.inner.history_sync(&device);
    assert!(
        history
            .iter()
            .any(|e| e.event == Event::Retired && e.node == "other"),
        "the other writer's event stays: {history:?}"
    );
    assert_eq!(
        rig.executor.calls.load(Ordering::SeqCst),
        1,
        "no attempt for the retired device"
    );
    assert_no_gaps(&rig.log.inner, 1);
    let _ = rig.stop.send(true);
    let report = rig.task.await.unwrap();
    assert_eq!(report.followed_events, 1, "{report:?}");
    assert_eq!(
        report.conflicts, 0,
        "the runner knew before it decided: {report:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_event_the_tail_has_not_brought_yet_is_caught_up_on_conflict() {
    let rig = rig_with(false, 0, true).await;
    enrol(&rig, 1);
    let device = id("r0");
    // The runner's tail is blind; the test reads the log's own tail.
    let mut tail = rig.log.inner.tail(0);
    while let Some(Ok((_, env))) = futures::StreamExt::next(&mut tail).await {
        if matches!(env.event, Event::AttemptFinished { .. }) {
            break;
        }
    }
    retire_behind_its_back(&rig, &device).await;
    trigger_finds_it_gone(&rig, &device).await;
    assert_no_gaps(&rig.log.inner, 1);
    let _ = rig.stop.send(true);
    let report = rig.task.await.unwrap();
    assert_eq!(report.conflicts, 1, "{report:?}");
    assert_eq!(report.followed_events, 0, "{report:?}");
}
