//! The driver: production's [`Fleet`] in virtual time, against simulated devices.
//!
//! The harness plays the tokio runner's part with a virtual clock: it
//! records every input the fleet hands out (record), commits it (decide)
//! and performs the effects (act) by asking the simulated device for an
//! answer and scheduling its `AttemptFinished`. Between steps it jumps to
//! the earliest of the fleet's `poll_timeout`, its own next event (a
//! result, an operator's command, a restart) and the end; it never sleeps.
//!
//! Randomness comes from one seed through `ChaCha8Rng` (portable, named),
//! split into three streams of that one generator so that a `--policy`
//! comparison sees the same world: stream 0 draws the world (who is in
//! which group, when faults happen, when operators trigger), stream 1 the
//! daemon's enrolment jitter (the runner draws it the same way), stream 2
//! the devices' answers. No hash map is iterated (the fleet's is only
//! looked up).
//!
//! With `[history]` the log is kept with its positions in a
//! [`History`] (checkpoints, compaction, archive; the glue is in the act
//! step) and a restart starts from the newest checkpoint.
//!
//! Safety invariants are checked after every step (TigerBeetle's split:
//! safety at every step, liveness in the report); each violation carries
//! the seed and the step that reproduce it.

// The act step (effects and scheduled actions) is in a file of its own; a
// child module, as it works on the harness's private state.
#[path = "harness_act.rs"]
mod act;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use super::history::History;
use super::model::{Device, Hit, Profile, Span};
use super::report::{Report, Violation};
use super::scenario::{Part, Resolve, Scenario};
use crate::domain::fleet::Fleet;
use crate::domain::schedule::{PauseNews, PauseSettings};
use crate::domain::{
    DeviceId, Envelope, Event, FailureKind, Outcome, Phase, PhaseKind, RetryPolicy, TenantId,
    TimerKind, Timestamp,
};

/// Virtual time starts at 2026-01-01T00:00:00Z, so logs read like real ones.
pub const START_MS: u64 = 1_767_225_600_000;

/// Violations kept in full in the report (all are counted).
const VIOLATIONS_KEPT: usize = 50;

/// Something the harness will do at a virtual time.
#[derive(Debug)]
enum Action {
    /// An attempt's result comes back (if its process still lives).
    AttemptDone {
        device: u32,
        attempt: u64,
        outcome: Outcome,
        epoch: u32,
    },
    /// An operator's command (credentials fixed, host key resolved).
    Operator {
        device: u32,
        event: Event,
    },
    /// An operator asks for a backup now.
    Trigger {
        device: u32,
        request: u32,
    },
    /// The daemon process dies; a new one replays the log.
    Restart,
    /// `[history]`: a checkpoint of every machine, then compaction.
    Checkpoint,
    Compact,
}

#[derive(Debug)]
struct Scheduled {
    at: u64,
    tie: u64,
    action: Action,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.tie) == (other.at, other.tie)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.tie).cmp(&(other.at, other.tie))
    }
}

/// What the harness knows about a device, independently of the machine:
/// the reference the invariants compare against.
#[derive(Debug, Clone, Default)]
struct Track {
    last_seq: u64,
    last_at: u64,
    /// Enrolment, then each success: coverage counts from here.
    fresh_since: u64,
    in_flight: Option<u64>,
    /// An `AuthFailed` was recorded and no `CredentialsUpdated` since.
    auth_blocked: bool,
    /// A `HostKeyMismatch` was recorded and no reset/accept since.
    host_key_blocked: bool,
    /// Consecutive failures, as the retry ladder counts them.
    failures: u32,
    /// After a transient failure: no scheduled retry before this.
    retry_not_before: Option<u64>,
    /// What the attempt in flight ran into.
    hit: Option<Hit>,
    /// Start of the current fault episode (recovery is measured from it).
    episode: Option<u64>,
    /// Over the run, for the outcome digest.
    successes: u64,
    failed: u64,
}

#[derive(Debug, Clone, Default)]
struct TriggerTrack {
    device: u32,
    submitted: bool,
    recorded: bool,
    lost: bool,
    replies: u32,
}

/// One simulation run.
pub struct Harness<'a> {
    scenario: &'a Scenario,
    policy: RetryPolicy,
    seed: u64,
    fleet: Fleet,
    epoch: u32,
    now: u64,
    end: u64,
    down_until: u64,
    /// The log, kept when the daemon restarts (replay reads it) and the
    /// scenario has no `[history]`.
    log: Option<Vec<Envelope>>,
    /// With `[history]`: the live log, checkpoints and archive instead.
    history: Option<History>,
    /// Most envelopes a restart folded.
    longest_replay: u64,
    hasher: Sha256,
    /// Reused buffer for each envelope's JSON line.
    line: Vec<u8>,
    queue: BinaryHeap<Reverse<Scheduled>>,
    tie: u64,
    ids: Vec<DeviceId>,
    tenant: TenantId,
    devices: Vec<Device>,
    profiles: Vec<Profile>,
    tracks: Vec<Track>,
    triggers: Vec<TriggerTrack>,
    rng_devices: ChaCha8Rng,
    // --- measures ---
    steps: u64,
    running: usize,
    attempts: u64,
    ssh_attempts: u64,
    successes: u64,
    skipped: u64,
    failures_by_kind: BTreeMap<&'static str, u64>,
    auth_attempts_after_block: u64,
    peak_concurrent: usize,
    restarts: u64,
    results_lost: u64,
    recoveries: Vec<u64>,
    coverage: Vec<(u64, f64)>,
    next_sample: u64,
    fresh_within: u64,
    violations: Vec<Violation>,
    violation_count: u64,
    /// The pause sequence, as the report lists it.
    pauses: Vec<String>,
    /// Until when the last pause the fleet decided holds attempts back.
    paused_until: u64,
    logins_while_store_down: u64,
}

impl<'a> Harness<'a> {
    /// Build the world of `scenario` under `policy` from `seed`.
    pub fn new(scenario: &'a Scenario, seed: u64, policy: RetryPolicy) -> Self {
        let mut world = stream(seed, 0);
        let n = scenario.devices;
        let tenant = TenantId::parse("sim").expect("a valid tenant id");
        let ids: Vec<DeviceId> = (0..n).map(device_id).collect();
        let mut profiles = vec![Profile::from_model(&scenario.attempt)];
        let mut devices = vec![Device::default(); n as usize];
        let mut order: Vec<u32> = (0..n).collect();
        order.shuffle(&mut world);
        let mut cursor = 0usize;
        let mut operator = Vec::new();
        for (g, group) in scenario.groups.iter().enumerate() {
            profiles.push(Profile::new(
                group
                    .duration
                    .as_ref()
                    .unwrap_or(&scenario.attempt.duration),
                group
                    .failures
                    .as_ref()
                    .unwrap_or(&scenario.attempt.failures),
            ));
            let count = ((group.share * f64::from(n)).round() as usize).min(order.len() - cursor);
            for &d in &order[cursor..cursor + count] {
                let device = &mut devices[d as usize];
                device.profile = (g + 1) as u16;
                for w in &group.offline {
                    let start = START_MS + w.start.0 + draw_below(&mut world, w.spread.0);
                    device.offline.push(Span {
                        start,
                        end: start + w.length.0,
                    });
                }
                for r in &group.password_rotation {
                    let start = START_MS + r.at.0 + draw_below(&mut world, r.spread.0);
                    let end = start + r.fixed_after.0;
                    device.rotations.push(Span { start, end });
                    operator.push((end, d, Event::CredentialsUpdated));
                }
                for s in &group.hardware_swap {
                    let start = START_MS + s.at.0 + draw_below(&mut world, s.spread.0);
                    let end = start + s.resolved_after.0;
                    device.swaps.push((Span { start, end }, s.resolve));
                }
            }
            cursor += count;
        }
        for (d, device) in devices.iter_mut().enumerate() {
            device.prepare(d as u32);
        }
        for (d, device) in devices.iter().enumerate() {
            for (span, resolve) in &device.swaps {
                let event = match resolve {
                    Resolve::Reset => Event::HostKeyReset,
                    Resolve::Accept => Event::HostKeyAccepted {
                        fingerprint: device.host_key(d as u32, span.end),
                    },
                };
                operator.push((span.end, d as u32, event));
            }
        }
        let end = START_MS + scenario.duration.0;
        let mut harness = Harness {
            scenario,
            fleet: new_fleet("sim-1", seed),
            policy,
            seed,
            epoch: 1,
            now: START_MS,
            end,
            down_until: START_MS,
            log: scenario
                .restarts
                .as_ref()
                .filter(|_| scenario.history.is_none())
                .map(|_| Vec::new()),
            history: scenario.history.clone().map(|h| History::new(h, n)),
            longest_replay: 0,
            hasher: Sha256::new(),
            line: Vec::with_capacity(1024),
            queue: BinaryHeap::new(),
            tie: 0,
            ids,
            tenant,
            devices,
            profiles,
            tracks: vec![Track::default(); n as usize],
            triggers: Vec::new(),
            rng_devices: stream(seed, 2),
            steps: 0,
            running: 0,
            attempts: 0,
            ssh_attempts: 0,
            successes: 0,
            skipped: 0,
            failures_by_kind: BTreeMap::new(),
            auth_attempts_after_block: 0,
            peak_concurrent: 0,
            restarts: 0,
            results_lost: 0,
            recoveries: Vec::new(),
            coverage: Vec::new(),
            next_sample: START_MS,
            fresh_within: scenario.fresh_within().0,
            violations: Vec::new(),
            violation_count: 0,
            pauses: Vec::new(),
            paused_until: 0,
            logins_while_store_down: 0,
        };
        for (at, device, event) in operator {
            harness.schedule(at, Action::Operator { device, event });
        }
        if let Some(t) = &scenario.triggers {
            let days = scenario.duration.0 as f64 / 86_400_000.0;
            let count = (t.per_day * days).round() as u32;
            for request in 0..count {
                let at = START_MS + draw_below(&mut world, scenario.duration.0);
                let device = draw_below(&mut world, u64::from(n)) as u32;
                harness.triggers.push(TriggerTrack {
                    device,
                    ..TriggerTrack::default()
                });
                harness.schedule(at, Action::Trigger { device, request });
            }
        }
        if let Some(r) = &scenario.restarts {
            let first = r.first.unwrap_or(r.every).0;
            harness.schedule(START_MS + first, Action::Restart);
        }
        if let Some(h) = &scenario.history {
            harness.schedule(START_MS + h.checkpoint_every.0, Action::Checkpoint);
            if h.keep.is_some() {
                harness.schedule(START_MS + h.compact_every.0, Action::Compact);
            }
        }
        harness
    }

    /// The index of a device: its id is `dev-NNNNNN` (checked against the
    /// id list, so a foreign id is `None`).
    fn index_of(&self, device: &DeviceId) -> Option<u32> {
        let i: u32 = device.as_str().strip_prefix("dev-")?.parse().ok()?;
        (self.ids.get(i as usize) == Some(device)).then_some(i)
    }

    fn schedule(&mut self, at: u64, action: Action) {
        self.tie += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            tie: self.tie,
            action,
        }));
    }

    /// Run to the end and report.
    pub fn run(mut self) -> Report {
        self.enrol();
        self.run_until(self.end);
        self.now = self.end;
        self.sample_before(self.end + 1);
        self.check_archive();
        self.finish()
    }

    /// Enrol every device; the fleet draws the jitter, as in the runner.
    fn enrol(&mut self) {
        for d in 0..self.ids.len() {
            self.fleet.enroll(
                self.ids[d].clone(),
                self.tenant.clone(),
                format!("10.{}.{}.{}", (d >> 16) & 255, (d >> 8) & 255, d & 255),
                22,
                self.policy.clone(),
                Vec::new(),
            );
        }
    }

    /// Whether `part` is down at the current virtual time.
    fn down(&self, part: Part) -> bool {
        self.scenario.outages.iter().any(|o| {
            o.part == part
                && (START_MS + o.start.0..START_MS + o.start.0 + o.length.0).contains(&self.now)
        })
    }

    /// Keep what the fleet decided about pauses, for the report and the
    /// check that no attempt starts while one holds.
    fn take_news(&mut self) {
        for news in self.fleet.take_news() {
            self.fleet_news(news);
        }
    }

    fn fleet_news(&mut self, news: PauseNews) {
        let at = fmt_at(self.now - START_MS);
        let line = match news {
            PauseNews::Began(p) | PauseNews::Extended(p) => {
                self.paused_until = self.paused_until.max(p.until.0);
                format!("+{at} {} pause {} ms", p.reason.name(), p.length_ms)
            }
            PauseNews::Ended { reason, .. } => format!("+{at} {} ended", reason.name()),
        };
        self.pauses.push(line);
    }

    /// Step until virtual time `until` (at most the end): everything due
    /// before it is recorded, decided and acted on.
    fn run_until(&mut self, until: u64) {
        let until = until.min(self.end);
        loop {
            let alive = self.now >= self.down_until;
            if alive {
                self.drain();
            }
            let mut next = self.end;
            if alive {
                if let Some(t) = self.fleet.poll_timeout() {
                    next = next.min(t.0);
                }
            } else {
                next = next.min(self.down_until);
            }
            if let Some(Reverse(top)) = self.queue.peek() {
                next = next.min(top.at);
            }
            if next <= self.now && self.queue.peek().is_none_or(|Reverse(s)| s.at > self.now) {
                // The fleet offers a deadline it did not hand out at that
                // time: move on rather than spin (never seen; kept as a guard).
                next = self.now + 1;
            }
            if next >= until {
                self.sample_before(until);
                return;
            }
            self.sample_before(next);
            self.now = next.max(self.now);
            while self.queue.peek().is_some_and(|Reverse(s)| s.at <= self.now) {
                let Some(Reverse(item)) = self.queue.pop() else {
                    break;
                };
                self.apply(item.action);
            }
        }
    }

    /// Record, decide and act on everything ready now.
    fn drain(&mut self) {
        let now = Timestamp(self.now);
        while let Some(pending) = self.fleet.next_input(now) {
            if self.down(Part::EventLog) {
                // The append is not answered (nothing recorded): the
                // fleet keeps the decision and sends it again, as in
                // production.
                let news = self.fleet.append_unknown(pending, now);
                self.fleet_news(news);
                break;
            }
            self.steps += 1;
            let env = &pending.envelope;
            let Some(idx) = self.index_of(&env.device) else {
                self.violation(None, "unknown_device", format!("{}", env.device));
                self.fleet.abort(pending);
                continue;
            };
            self.hash(env);
            self.record(idx, env);
            let triggered = matches!(env.event, Event::TriggerRequested { .. });
            if let Some(log) = &mut self.log {
                log.push(env.clone());
            } else if let Some(history) = &mut self.history {
                history.append(idx, env.clone());
            }
            let effects = self.fleet.commit(pending);
            self.take_news();
            for effect in effects {
                self.act(idx, triggered, effect);
            }
            if self.fleet.running() > self.fleet.max_concurrent() {
                self.violation(
                    Some(idx),
                    "too_many_running",
                    format!(
                        "the fleet runs {} attempts, limit {}",
                        self.fleet.running(),
                        self.fleet.max_concurrent()
                    ),
                );
            }
        }
    }

    /// Hash the envelope as the log's JSON line (serializing these types
    /// cannot fail).
    fn hash(&mut self, env: &Envelope) {
        self.line.clear();
        let _ = serde_json::to_writer(&mut self.line, env);
        self.line.push(b'\n');
        self.hasher.update(&self.line);
    }

    /// Bookkeeping and invariants for one recorded envelope.
    fn record(&mut self, idx: u32, env: &Envelope) {
        let at = env.at.0;
        let i = idx as usize;
        if env.seq != self.tracks[i].last_seq + 1 {
            let expected = self.tracks[i].last_seq + 1;
            self.violation(
                Some(idx),
                "sequence_gap",
                format!("recorded sequence {}, expected {expected}", env.seq),
            );
        }
        if at < self.tracks[i].last_at {
            self.violation(
                Some(idx),
                "time_went_back",
                format!(
                    "recorded at {at}, after an event at {}",
                    self.tracks[i].last_at
                ),
            );
        }
        let track = &mut self.tracks[i];
        track.last_seq = env.seq;
        track.last_at = at;
        match &env.event {
            Event::Enrolled { .. } => track.fresh_since = at,
            Event::TagsChanged { .. } => {}
            Event::AttemptFinished { attempt, outcome } => {
                if track.in_flight != Some(*attempt) {
                    return; // not the attempt running: the machine ignores it too
                }
                track.in_flight = None;
                self.running = self.running.saturating_sub(1);
                let hit = track.hit.take().unwrap_or(Hit::None);
                if let Hit::Until(end) = hit {
                    track.episode = Some(track.episode.map_or(end, |s| s.max(end)));
                }
                match outcome {
                    Outcome::Collected { .. } => {
                        self.successes += 1;
                        track.successes += 1;
                        track.fresh_since = at;
                        track.failures = 0;
                        track.retry_not_before = None;
                        if let Some(start) = track.episode.take() {
                            self.recoveries.push(at.saturating_sub(start));
                        }
                    }
                    Outcome::Skipped { .. } => self.skipped += 1,
                    Outcome::Failed { kind, .. } => {
                        track.failed += 1;
                        *self.failures_by_kind.entry(kind.name()).or_default() += 1;
                        track.failures = track.failures.saturating_add(1);
                        match kind {
                            FailureKind::AuthFailed => track.auth_blocked = true,
                            FailureKind::HostKeyMismatch { .. } => track.host_key_blocked = true,
                            _ => {
                                let delay = ladder(&self.policy, track.failures);
                                track.retry_not_before = Some(at + delay);
                                if track.episode.is_none() {
                                    track.episode = Some(at);
                                }
                            }
                        }
                    }
                }
            }
            Event::TimerFired {
                timer: TimerKind::AttemptDeadline,
                ..
            } => {
                // The attempt was abandoned (its process died): a transient failure.
                if track.in_flight.take().is_some() {
                    self.running = self.running.saturating_sub(1);
                }
                track.hit = None;
                track.failed += 1;
                *self.failures_by_kind.entry("abandoned").or_default() += 1;
                track.failures = track.failures.saturating_add(1);
                track.retry_not_before = Some(at + ladder(&self.policy, track.failures));
                if track.episode.is_none() {
                    track.episode = Some(at);
                }
            }
            Event::CredentialsUpdated => {
                if track.auth_blocked {
                    track.auth_blocked = false;
                    track.failures = 0;
                    track.retry_not_before = None;
                }
            }
            Event::HostKeyReset | Event::HostKeyAccepted { .. } => {
                if track.host_key_blocked {
                    track.host_key_blocked = false;
                    track.failures = 0;
                    track.retry_not_before = None;
                }
            }
            Event::TriggerRequested { request } => {
                if let Some(t) = request_index(request).and_then(|r| self.triggers.get_mut(r)) {
                    t.recorded = true;
                }
            }
            Event::TimerFired { .. } | Event::Retired | Event::PolicyChanged { .. } => {}
        }
    }

    /// Coverage samples at every sample time before `t` (the state does
    /// not change between steps).
    fn sample_before(&mut self, t: u64) {
        let every = self.scenario.report.sample_every.0;
        while self.next_sample < t && self.next_sample <= self.end {
            let s = self.next_sample;
            let fresh = self
                .tracks
                .iter()
                .filter(|d| s.saturating_sub(d.fresh_since) <= self.fresh_within)
                .count();
            self.coverage
                .push((s - START_MS, fresh as f64 / self.tracks.len() as f64));
            self.next_sample += every;
        }
    }

    fn violation(&mut self, device: Option<u32>, rule: &'static str, detail: String) {
        self.violation_count += 1;
        if self.violations.len() < VIOLATIONS_KEPT {
            self.violations.push(Violation {
                seed: self.seed,
                step: self.steps,
                at_ms: self.now.saturating_sub(START_MS),
                device: device
                    .and_then(|d| self.ids.get(d as usize))
                    .map(|d| d.to_string()),
                rule,
                detail,
            });
        }
    }

    fn finish(mut self) -> Report {
        // Every trigger recorded is answered exactly once, unless its
        // attempt still runs at the end.
        for r in 0..self.triggers.len() {
            let t = self.triggers[r].clone();
            let request = format!("req-{r}");
            let still_running = self.fleet.state(&self.ids[t.device as usize]).is_some_and(
                |s| matches!(&s.phase, Phase::Running { trigger: Some(q), .. } if *q == request),
            );
            if t.replies > 1 {
                self.violation(
                    Some(t.device),
                    "trigger_answered_twice",
                    format!("{request} got {} replies", t.replies),
                );
            } else if t.recorded && t.replies == 0 && !still_running {
                self.violation(
                    Some(t.device),
                    "trigger_unanswered",
                    format!("{request} was recorded and never answered"),
                );
            }
        }
        let mut phases: BTreeMap<&'static str, u64> = PhaseKind::ALL
            .iter()
            .filter(|k| !matches!(k, PhaseKind::Unenrolled))
            .map(|k| (k.name(), 0))
            .collect();
        let states = self.fleet.states();
        for s in &states {
            *phases.entry(s.phase.kind().name()).or_default() += 1;
        }
        let outcomes = self.outcomes(&states);
        let history = self.history.as_ref().map(|h| self.history_report(h));
        let device_days =
            f64::from(self.scenario.devices) * self.scenario.duration.0 as f64 / 86_400_000.0;
        self.recoveries.sort_unstable();
        let mut answered = 0;
        let mut lost = 0;
        for t in &self.triggers {
            answered += u64::from(t.replies > 0);
            lost += u64::from(t.lost);
        }
        Report::build(super::report::Measures {
            scenario: self.scenario.name.clone(),
            seed: self.seed,
            devices: self.scenario.devices,
            duration_ms: self.scenario.duration.0,
            policy: self.policy.clone(),
            events: self.steps,
            device_days,
            attempts: self.attempts,
            ssh_attempts: self.ssh_attempts,
            successes: self.successes,
            skipped_offline: self.skipped,
            failures_by_kind: self
                .failures_by_kind
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            coverage: self.coverage,
            fresh_within_ms: self.fresh_within,
            recoveries: self.recoveries,
            unrecovered: self.tracks.iter().filter(|t| t.episode.is_some()).count() as u64,
            auth_attempts_after_block: self.auth_attempts_after_block,
            peak_concurrent: self.peak_concurrent,
            max_concurrent: self.policy.max_concurrent as usize,
            restarts: self.restarts,
            results_lost: self.results_lost,
            triggers: self.triggers.len() as u64,
            triggers_answered: answered,
            triggers_lost: lost,
            phases_at_end: phases.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            pauses: self.pauses,
            logins_while_store_down: self.logins_while_store_down,
            violation_count: self.violation_count,
            violations: self.violations,
            event_log_sha256: hex::encode(self.hasher.finalize()),
            outcomes_sha256: outcomes,
            longest_replay: self.longest_replay,
            history,
        })
    }
}

/// The fleet as the runner builds it: the runner's default pauses, the
/// jitter from the run's seed (the slots come with the policy enrolled).
fn new_fleet(node: &str, seed: u64) -> Fleet {
    Fleet::new(node)
        .with_pauses(PauseSettings::default())
        .with_jitter_seed(seed)
}

/// A virtual time since the start, as `1d02:03:04`.
fn fmt_at(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "{}d{:02}:{:02}:{:02}",
        s / 86_400,
        s / 3_600 % 24,
        s / 60 % 60,
        s % 60
    )
}

/// The retry ladder, read independently of `RetryPolicy::backoff_delay_secs`
/// (the reference the invariant compares the machine with), in ms.
fn ladder(policy: &RetryPolicy, failures: u32) -> u64 {
    let rungs = &policy.backoff_secs;
    let n = (failures.max(1) as usize).min(rungs.len());
    rungs.get(n.wrapping_sub(1)).copied().unwrap_or(0) * 1000
}

fn stream(seed: u64, n: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(n);
    rng
}

/// Uniform in `0..bound` (0 when `bound` is 0); the modulo bias is below
/// 2^-40 for the spans a scenario holds.
fn draw_below(rng: &mut ChaCha8Rng, bound: u64) -> u64 {
    if bound == 0 {
        0
    } else {
        rng.next_u64() % bound
    }
}

fn device_id(i: u32) -> DeviceId {
    DeviceId::parse(&format!("dev-{i:06}")).expect("letters, digits and '-' make a valid id")
}

fn request_index(request: &str) -> Option<usize> {
    request.strip_prefix("req-")?.parse().ok()
}

#[cfg(test)]
#[path = "harness_tests.rs"]
mod tests;
