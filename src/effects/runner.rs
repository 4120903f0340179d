//! The effect runner: record, then decide, then act — with a real clock.
//!
//! At start-up the runner replays the whole log into a
//! [`Fleet`](crate::domain::fleet::Fleet) (no effects), then loops:
//!
//! 1. hand every ready input from the fleet (due timers, commands, attempt
//!    results) to the log as an append behind the device's expected
//!    sequence — several devices in flight at once, one input per device;
//! 2. when an append is durable, commit it to the fleet and perform the
//!    effects it returns (start an attempt, answer a trigger, note a host
//!    key); when it conflicts, another writer moved the device: drop the
//!    local decision, read what was appended, go on from there; when the
//!    log is unavailable, keep the input and retry after a pause, starting
//!    no new attempts meanwhile;
//! 3. fold what the log's tail brings that the fleet has not decided itself
//!    (another writer's events: an operator's command, another daemon);
//! 4. sleep until the fleet's next deadline, a command, a result, an
//!    append completion or a new event in the log.
//!
//! The runner feeds no projection: the projector reads the same log. What
//! it reports beside the log is its own health (the log or the snapshot
//! store unavailable), on a watch channel.
//!
//! One timer for the whole fleet (the fleet's heap), not a task per device.
//! Attempts run as tasks, at most the policy's `max_concurrent` at once
//! (the fleet's slots, set by the newest policy recorded); a due attempt waits for its slot before its `TimerFired` is
//! recorded, so `Running` in the log means running.
//!
//! Shutdown: no new attempts; running ones get a bounded grace to finish
//! and be recorded; the rest stay `Running` in the log and are settled by
//! their `AttemptDeadline` in the next life (`Abandoned`), never run twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::stream::FuturesUnordered;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::domain::fleet::{Fleet, Pending, Reconciled};
use crate::domain::health::{Health, Outage};
use crate::domain::schedule::{PauseNews, PauseReason, PauseSettings};
use crate::domain::{
    AttemptId, AttemptRequest, DeviceId, Effect, Envelope, Event, Outcome, RequestId, RetryPolicy,
    TenantId, Timestamp, TriggerReply, TrustActor,
};
use crate::store::{AppendError, EventLog, GlobalSeq, Positioned, StoreError};

/// The longest the runner sleeps without a deadline or an input.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// The wall clock, in one place.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        #[allow(clippy::disallowed_methods)] // the runner's one real clock
        let now = std::time::SystemTime::now();
        let ms = now
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Timestamp(ms)
    }
}

/// A host-key decision of the machine, as the inventory is told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyChange {
    /// Trusted from now on; `verified` when a backup just saw it (first use).
    Trusted { fingerprint: String, verified: bool },
    /// A backup verified the key already trusted.
    Verified { fingerprint: String },
    /// The operator reset it: nothing is trusted until the next first use.
    Forgotten,
}

/// Performs attempts (gate, lock, SSH, normalize, publish) and says how they
/// ended. Never fails: every failure is an [`Outcome::Failed`].
pub trait AttemptExecutor: Send + Sync + 'static {
    fn execute(&self, attempt: AttemptRequest) -> BoxFuture<'static, Outcome>;
    /// What the machine decided about a device's host key, for an
    /// inventory that keeps it (the platform's `ssh_host_key_*` columns).
    /// The one way those columns are written: from the machine's effects.
    fn host_key(&self, _device: &DeviceId, _change: HostKeyChange) {}
}

/// What operators and the inventory ask of the runner.
#[derive(Debug)]
pub enum Command {
    /// Enrol a device, or update its address and policy.
    Enroll {
        device: DeviceId,
        tenant: TenantId,
        host: String,
        port: u16,
        policy: RetryPolicy,
    },
    Retire {
        device: DeviceId,
    },
    /// A manual backup; the reply comes when the attempt ends (or at once
    /// when refused).
    Trigger {
        device: DeviceId,
        request: RequestId,
        reply: oneshot::Sender<TriggerReply>,
    },
    CredentialsUpdated {
        device: DeviceId,
    },
    HostKeyReset {
        device: DeviceId,
    },
    HostKeyAccepted {
        device: DeviceId,
        fingerprint: String,
    },
    PolicyChanged {
        device: DeviceId,
        policy: RetryPolicy,
    },
    /// The inventory as it should be: enrol what is new or changed, retire
    /// what is gone. Devices already enrolled as desired are left alone (no
    /// re-jitter, no schedule change).
    Reconcile {
        devices: Vec<DesiredDevice>,
    },
}

pub use crate::domain::fleet::DesiredDevice;

/// How the runner behaves.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Recorded in every envelope (`node`).
    pub node: String,
    /// Time running attempts get to finish at shutdown.
    pub shutdown_grace: Duration,
    /// Pause after the log was unavailable before trying again.
    pub store_retry: Duration,
    /// Longest pause of attempts while snapshots cannot be published (the
    /// pause doubles from `store_retry` up to this while it lasts).
    pub snapshot_retry_max: Duration,
    /// Appends in flight at once (across devices).
    pub append_window: usize,
    /// Seed of the enrolment jitter; `None`: from the OS.
    pub jitter_seed: Option<u64>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            node: "confkeep".into(),
            shutdown_grace: Duration::from_secs(10),
            store_retry: Duration::from_secs(1),
            snapshot_retry_max: Duration::from_secs(60),
            append_window: 512,
            jitter_seed: None,
        }
    }
}

/// Errors that stop the runner (the log could not be read at start-up).
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("replaying the event log: {0}")]
    Replay(#[from] StoreError),
    #[error("replaying the event log: {0}")]
    Sequence(#[from] crate::domain::fleet::SequenceError),
}

/// A handle to talk to a running runner.
#[derive(Clone)]
pub struct RunnerHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl RunnerHandle {
    /// Send a command; false if the runner has stopped.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }

    /// Ask for a backup now and wait for the answer.
    pub async fn trigger(&self, device: DeviceId, request: RequestId) -> Option<TriggerReply> {
        let (tx, rx) = oneshot::channel();
        if !self.send(Command::Trigger {
            device,
            request,
            reply: tx,
        }) {
            return None;
        }
        rx.await.ok()
    }
}

/// Facts a finished run reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    pub replayed_events: u64,
    pub recorded_events: u64,
    pub attempts_started: u64,
    /// Attempts still running when the grace ran out (left to their deadline).
    pub attempts_left_running: usize,
    /// Appends refused because another writer had moved the device first.
    pub conflicts: u64,
    /// Other writers' events folded from the log's tail.
    pub followed_events: u64,
    /// Events read from the log's tail, ours included.
    pub tail_events: u64,
}

/// The effect runner.
pub struct Runner {
    fleet: Fleet,
    log: Arc<dyn EventLog>,
    executor: Arc<dyn AttemptExecutor>,
    clock: Arc<dyn Clock>,
    config: RunnerConfig,
    commands_tx: mpsc::UnboundedSender<Command>,
    commands: mpsc::UnboundedReceiver<Command>,
    results_tx: mpsc::UnboundedSender<(DeviceId, TenantId, AttemptId, Outcome)>,
    results: mpsc::UnboundedReceiver<(DeviceId, TenantId, AttemptId, Outcome)>,
    replies: HashMap<RequestId, oneshot::Sender<TriggerReply>>,
    report: RunReport,
    health: Health,
    health_tx: watch::Sender<Health>,
    /// The log position replayed or followed so far.
    position: GlobalSeq,
    /// Other writers' events folded so far, for whoever waits on it.
    followed: watch::Sender<u64>,
    /// `position`, for whoever waits for the runner to catch up.
    position_tx: watch::Sender<GlobalSeq>,
    recorded_tx: watch::Sender<u64>,
    /// Set at shutdown: when the grace for running attempts ends.
    stopping: Option<Timestamp>,
    /// Times the loop woke (any reason): an idle runner wakes only for
    /// deadlines.
    wakeups: Arc<std::sync::atomic::AtomicU64>,
}

type AppendFuture = BoxFuture<'static, (Pending, Result<u64, AppendError>)>;

impl Runner {
    pub fn new(
        log: Arc<dyn EventLog>,
        executor: Arc<dyn AttemptExecutor>,
        clock: Arc<dyn Clock>,
        config: RunnerConfig,
    ) -> Self {
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let (results_tx, results) = mpsc::unbounded_channel();
        // The one draw from the OS: the seed of the fleet's jitter.
        let seed = config
            .jitter_seed
            .unwrap_or_else(|| ChaCha20Rng::from_os_rng().random());
        let pauses = PauseSettings {
            log_retry_ms: config.store_retry.as_millis() as u64,
            snapshot_first_ms: config.store_retry.as_millis() as u64,
            snapshot_max_ms: config.snapshot_retry_max.as_millis() as u64,
        };
        Runner {
            fleet: Fleet::new(&config.node)
                .with_pauses(pauses)
                .with_jitter_seed(seed),
            log,
            executor,
            clock,
            config,
            commands_tx,
            commands,
            results_tx,
            results,
            replies: HashMap::new(),
            report: RunReport::default(),
            health: Health::default(),
            health_tx: watch::channel(Health::default()).0,
            position: 0,
            followed: watch::channel(0).0,
            position_tx: watch::channel(0).0,
            recorded_tx: watch::channel(0).0,
            stopping: None,
            wakeups: Arc::default(),
        }
    }

    /// How many times the loop has woken, read while it runs.
    pub fn wakeups(&self) -> Arc<std::sync::atomic::AtomicU64> {
        self.wakeups.clone()
    }

    /// A handle for commands and status; valid as long as the runner runs.
    pub fn handle(&self) -> RunnerHandle {
        RunnerHandle {
            commands: self.commands_tx.clone(),
        }
    }

    /// The runner's health (log or snapshot store unavailable), as it changes.
    pub fn health(&self) -> watch::Receiver<Health> {
        self.health_tx.subscribe()
    }

    /// The log position the runner has replayed and followed: an idle
    /// runner is one that has caught up with the log.
    pub fn position(&self) -> watch::Receiver<GlobalSeq> {
        self.position_tx.subscribe()
    }

    /// How many inputs the runner has recorded and acted on so far.
    pub fn recorded(&self) -> watch::Receiver<u64> {
        self.recorded_tx.subscribe()
    }

    /// How many of other writers' events the runner has folded from the
    /// log's tail; await `changed()` to see one arrive.
    pub fn followed(&self) -> watch::Receiver<u64> {
        self.followed.subscribe()
    }

    fn notify_health(&self) {
        metrics::gauge!("confkeep_event_log_up").set(if self.health.event_log.is_none() {
            1.0
        } else {
            0.0
        });
        metrics::gauge!("confkeep_snapshots_up").set(if self.health.snapshots.is_none() {
            1.0
        } else {
            0.0
        });
        self.health_tx.send_replace(self.health.clone());
    }

    /// Say what the fleet decided about a pause: once per outage, not per
    /// append or attempt, with the last error of the part; keep the health
    /// the status shows.
    fn report_pause(&mut self, news: PauseNews, error: &str) {
        let now = self.clock.now();
        fn slot(h: &mut Health, reason: PauseReason) -> &mut Option<Outage> {
            match reason {
                PauseReason::EventLogUnavailable => &mut h.event_log,
                PauseReason::SnapshotsUnavailable => &mut h.snapshots,
            }
        }
        match news {
            PauseNews::Began(pause) => {
                tracing::error!(reason = pause.reason.name(), error = %error, pause_s = pause.length_ms as f64 / 1000.0,
                    "no new attempts until it works again (nothing recorded is lost)");
                *slot(&mut self.health, pause.reason) = Some(Outage {
                    since: now,
                    error: error.to_owned(),
                });
            }
            PauseNews::Extended(pause) => {
                tracing::debug!(reason = pause.reason.name(), error = %error, pause_s = pause.length_ms as f64 / 1000.0, "still unavailable");
                if let Some(outage) = slot(&mut self.health, pause.reason) {
                    outage.error = error.to_owned();
                }
                return;
            }
            PauseNews::Ended { reason, since } => {
                tracing::info!(
                    reason = reason.name(),
                    down_s = now.millis_since(since) / 1000,
                    "works again; attempts resume"
                );
                *slot(&mut self.health, reason) = None;
            }
        }
        self.notify_health();
    }

    /// Start from a checkpoint: the machines as they were at `position`
    /// (then [`Runner::replay`] folds only what came after).
    pub fn restore(
        &mut self,
        position: GlobalSeq,
        states: impl IntoIterator<Item = crate::domain::DeviceState>,
        slots: Option<usize>,
    ) {
        self.fleet.restore(states, slots);
        self.position = position;
        self.position_tx.send_replace(position);
    }

    /// Rebuild every machine from the log. No effects are performed.
    pub async fn replay(&mut self) -> Result<u64, RunnerError> {
        let mut stream = self.log.replay(self.position + 1);
        let mut n = 0;
        while let Some(item) = stream.next().await {
            let (global, env) = item?;
            self.fleet.replay(&env)?;
            self.position = global;
            n += 1;
        }
        self.position_tx.send_replace(self.position);
        self.report.replayed_events += n;
        Ok(n)
    }

    /// Fold what the log's tail has ready (one wake-up for a burst).
    fn follow_all(&mut self, items: Vec<Result<Positioned, StoreError>>, tail: &mut Tail) {
        for item in items {
            match item {
                Ok((global, env)) => self.follow(global, &env),
                Err(StoreError::Decode { location, seq, .. }) => {
                    // The projector reports it in the device's status.
                    tracing::debug!(location = %location, seq, "an undecodable record in the log's tail skipped");
                    self.position = self.position.max(seq);
                }
                Err(e) => {
                    tail.lost(&e, self.clock.now(), self.config.store_retry);
                    break;
                }
            }
        }
        self.position_tx.send_replace(self.position);
    }

    /// Fold what the log's tail brought: another writer's event, or one of
    /// ours coming back (skipped).
    fn follow(&mut self, global: GlobalSeq, env: &Envelope) {
        self.position = self.position.max(global);
        self.report.tail_events += 1;
        match self.fleet.follow(env) {
            Ok(Some(_)) => {
                self.report.followed_events += 1;
                self.followed.send_modify(|n| *n += 1);
                tracing::debug!(device = %env.device, seq = env.seq, node = %env.node, event = env.event.name(), "followed another writer's event");
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(device = %env.device, global, error = %e, "an event from the log's tail does not follow its device's sequence; left to the next append's check");
            }
        }
    }

    fn accept(&mut self, command: Command) {
        match command {
            Command::Enroll {
                device,
                tenant,
                host,
                port,
                policy,
            } => self
                .fleet
                .enroll(device, tenant, host, port, policy, Vec::new()),
            Command::Trigger {
                device,
                request,
                reply,
            } => match self.fleet.trigger(device, request.clone()) {
                Ok(()) => {
                    self.replies.insert(request, reply);
                }
                Err(refused) => {
                    let _ = reply.send(refused);
                }
            },
            Command::Retire { device } => self.submit_known(device, Event::Retired),
            Command::Reconcile { devices } => self.reconcile(devices),
            Command::CredentialsUpdated { device } => {
                self.submit_known(device, Event::CredentialsUpdated)
            }
            Command::HostKeyReset { device } => self.submit_known(device, Event::HostKeyReset),
            Command::HostKeyAccepted {
                device,
                fingerprint,
            } => self.submit_known(device, Event::HostKeyAccepted { fingerprint }),
            Command::PolicyChanged { device, policy } => {
                self.submit_known(device, Event::PolicyChanged { policy })
            }
        }
    }

    fn reconcile(&mut self, devices: Vec<DesiredDevice>) {
        let done = self.fleet.reconcile(devices);
        if done != Reconciled::default() {
            tracing::info!(
                enrolled = done.enrolled,
                retired = done.retired,
                credentials_updated = done.credentials_updated,
                "inventory reconciled"
            );
        }
    }

    fn submit_known(&mut self, device: DeviceId, event: Event) {
        let name = event.name();
        if !self.fleet.submit_known(device.clone(), event) {
            tracing::warn!(device = %device, event = name, "command for an unknown device ignored");
        }
    }

    fn append(&self, pending: Pending) -> AppendFuture {
        let log = self.log.clone();
        Box::pin(async move {
            let device = pending.envelope.device.clone();
            let expected = pending.envelope.seq.saturating_sub(1);
            let result = log
                .append(&device, expected, vec![pending.envelope.clone()])
                .await;
            (pending, result)
        })
    }

    /// Perform the effects of a committed input.
    fn act(&mut self, env: &Envelope, effects: Vec<Effect>, attempts: &mut JoinSet<()>) {
        for effect in effects {
            match effect {
                Effect::Collect(request) => {
                    let executor = self.executor.clone();
                    let results = self.results_tx.clone();
                    self.report.attempts_started += 1;
                    attempts.spawn(async move {
                        let (device, tenant, attempt) = (
                            request.device.clone(),
                            request.tenant.clone(),
                            request.attempt,
                        );
                        let outcome = executor.execute(request).await;
                        let _ = results.send((device, tenant, attempt, outcome));
                    });
                }
                Effect::Reply { request, reply } => {
                    if let Some(tx) = self.replies.remove(&request) {
                        let _ = tx.send(reply);
                    }
                }
                Effect::TrustHostKey { fingerprint, actor } => {
                    tracing::info!(device = %env.device, fingerprint = %fingerprint, by = actor.name(), "host key trusted");
                    let verified = actor == TrustActor::FirstUse;
                    self.executor.host_key(
                        &env.device,
                        HostKeyChange::Trusted {
                            fingerprint,
                            verified,
                        },
                    );
                }
                Effect::HostKeyVerified { fingerprint } => {
                    self.executor
                        .host_key(&env.device, HostKeyChange::Verified { fingerprint });
                }
                Effect::ForgetHostKey => {
                    tracing::info!(device = %env.device, "trusted host key forgotten");
                    self.executor
                        .host_key(&env.device, HostKeyChange::Forgotten);
                }
            }
        }
    }

    /// Read what another writer appended for `device` and fold it.
    async fn catch_up(&mut self, device: &DeviceId) {
        let mut history = self.log.device_history(device);
        while let Some(item) = history.next().await {
            match item {
                Ok(env) => {
                    if let Err(e) = self.fleet.replay(&env) {
                        tracing::error!(device = %device, error = %e, "cannot fold the device's log");
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(device = %device, error = %e, "cannot read the device's log after a conflict");
                    return;
                }
            }
        }
    }

    /// Run until `shutdown` resolves, then wind down within the grace.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) -> RunReport {
        let mut appends: FuturesUnordered<AppendFuture> = FuturesUnordered::new();
        let mut attempts: JoinSet<()> = JoinSet::new();
        let mut tail = Tail::new(self.log.clone(), self.position);
        tokio::pin!(shutdown);

        loop {
            let now = self.clock.now();
            tail.reopen_if_due(now, self.position);
            let mut handed_out = false;
            while appends.len() < self.config.append_window {
                let Some(pending) = self.fleet.next_input(now) else {
                    break;
                };
                handed_out = true;
                appends.push(self.append(pending));
            }
            if let Some(deadline) = self.stopping
                && appends.is_empty()
            {
                let drained = attempts.is_empty() && !handed_out && !self.fleet.log_paused(now);
                if drained || now >= deadline {
                    break;
                }
            }
            // The end of the shutdown grace is a deadline too.
            let wake = [self.fleet.wake_at(now), self.stopping, tail.reopen_at]
                .into_iter()
                .flatten()
                .min();
            // Asleep until the next deadline or an input. Deadlines are
            // wall-clock times and the sleep is monotonic: waking once a
            // minute at most late bounds what a clock step can delay.
            let sleep_for = wake
                .map(|t| Duration::from_millis(t.millis_since(now)))
                .unwrap_or(MAX_SLEEP)
                .min(MAX_SLEEP);
            self.wakeups
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::select! {
                Some((pending, result)) = appends.next(), if !appends.is_empty() => {
                    self.settle_append(pending, result, &mut attempts).await;
                }
                Some((device, tenant, attempt, outcome)) = self.results.recv() => {
                    let correlation = Some(format!("{device}/{attempt}"));
                    self.fleet.submit(device, tenant, Event::AttemptFinished { attempt, outcome }, correlation);
                }
                Some(command) = self.commands.recv(), if self.stopping.is_none() => {
                    self.accept(command);
                }
                Some(_) = attempts.join_next(), if !attempts.is_empty() => {}
                items = tail.next(), if tail.is_open() => match items {
                    Some(items) => self.follow_all(items, &mut tail),
                    None => tail.lost(&StoreError::unavailable("the tail ended"), self.clock.now(), self.config.store_retry),
                },
                _ = tokio::time::sleep(sleep_for) => {}
                _ = &mut shutdown, if self.stopping.is_none() => {
                    tracing::info!(running = self.fleet.running(), grace_s = self.config.shutdown_grace.as_secs(), "shutting down: no new attempts");
                    self.fleet.stop_attempts();
                    self.stopping = Some(self.clock.now().plus_millis(self.config.shutdown_grace.as_millis() as u64));
                }
            }
        }
        self.report.attempts_left_running = attempts.len();
        attempts.abort_all();
        for (_, tx) in self.replies.drain() {
            let _ = tx.send(TriggerReply::Failed {
                kind: crate::domain::FailureKind::Other,
                message: "the daemon stopped before the attempt ended".into(),
            });
        }
        self.report
    }

    async fn settle_append(
        &mut self,
        pending: Pending,
        result: Result<u64, AppendError>,
        attempts: &mut JoinSet<()>,
    ) {
        match result {
            Ok(_) => {
                let env = pending.envelope.clone();
                let effects = self.fleet.commit(pending);
                for news in self.fleet.take_news() {
                    let error = match &env.event {
                        Event::AttemptFinished {
                            outcome: Outcome::Failed { message, .. },
                            ..
                        } => message.as_str(),
                        _ => "",
                    };
                    self.report_pause(news, error);
                }
                self.report.recorded_events += 1;
                self.recorded_tx.send_replace(self.report.recorded_events);
                self.act(&env, effects, attempts);
            }
            Err(AppendError::Conflict { actual }) => {
                let device = pending.envelope.device.clone();
                tracing::info!(device = %device, seq = pending.envelope.seq, actual, "another writer moved the device; catching up");
                self.report.conflicts += 1;
                self.fleet.abort(pending);
                self.catch_up(&device).await;
            }
            Err(e @ AppendError::Store(_)) => {
                tracing::debug!(device = %pending.envelope.device, seq = pending.envelope.seq, event = pending.envelope.event.name(), error = %e, "append not answered; the same event is sent again when the log is back");
                let news = self.fleet.append_unknown(pending, self.clock.now());
                self.report_pause(news, &e.to_string());
            }
            Err(e) => {
                tracing::debug!(device = %pending.envelope.device, seq = pending.envelope.seq, event = pending.envelope.event.name(), error = %e, "append refused");
                self.fleet.abort(pending);
                let news = self.fleet.log_unavailable(self.clock.now());
                self.report_pause(news, &e.to_string());
            }
        }
    }
}

/// The log's tail as the runner follows it: reopened from the runner's
/// position after the log failed, once the retry pause is over.
struct Tail {
    log: Arc<dyn EventLog>,
    stream: Option<BoxStream<'static, Vec<Result<Positioned, StoreError>>>>,
    reopen_at: Option<Timestamp>,
}

/// Tail events taken in one wake-up at most.
const TAIL_BATCH: usize = 512;

fn open_tail(
    log: &Arc<dyn EventLog>,
    position: GlobalSeq,
) -> BoxStream<'static, Vec<Result<Positioned, StoreError>>> {
    log.tail(position + 1).ready_chunks(TAIL_BATCH).boxed()
}

impl Tail {
    fn new(log: Arc<dyn EventLog>, position: GlobalSeq) -> Self {
        let stream = Some(open_tail(&log, position));
        Tail {
            log,
            stream,
            reopen_at: None,
        }
    }

    fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    async fn next(&mut self) -> Option<Vec<Result<Positioned, StoreError>>> {
        match &mut self.stream {
            Some(s) => s.next().await,
            None => std::future::pending().await,
        }
    }

    fn lost(&mut self, error: &StoreError, now: Timestamp, retry: Duration) {
        tracing::warn!(error = %error, "lost the event log's tail; reading it again shortly");
        self.stream = None;
        self.reopen_at = Some(now.plus_millis(retry.as_millis() as u64));
    }

    fn reopen_if_due(&mut self, now: Timestamp, position: GlobalSeq) {
        if self.reopen_at.is_some_and(|t| now >= t) {
            self.reopen_at = None;
            self.stream = Some(open_tail(&self.log, position));
        }
    }
}
