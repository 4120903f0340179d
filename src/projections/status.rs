//! Status: one row per device and the fleet summary, folded from the log.
//!
//! The board folds envelopes in log order through the machine's own
//! [`step`], so each row is what the log says — whoever wrote the event (our
//! runner, an operator's command, another daemon). Counts per phase and of
//! attempt outcomes are kept as the fold goes, so they agree with the
//! history after any restart. A device is *stale* when it has no success
//! within two of its intervals (counted from enrolment when it never
//! succeeded).
//!
//! Bad input stops nothing: a record that does not decode or that breaks a
//! device's sequence is kept as a [`LogProblem`] naming where it sits, the
//! device's row says it is out of date, and the fold goes on.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::domain::health::Health;
use crate::domain::{
    DeviceId, DeviceState, Envelope, Event, Outcome, PhaseKind, Shared, SkipReason, StoredApart,
    Timestamp, step,
};
use crate::store::GlobalSeq;

use super::blocked_ticks::{Block, BlockedTicks};
use super::coverage::{Coverage, CoverageSample};
use super::notifications::ReceiverStatus;

/// What an operator sees for one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceStatus {
    pub device: String,
    pub tenant: String,
    #[schema(value_type = String, example = "idle")]
    pub phase: PhaseKind,
    /// When the current phase was entered (ms since the epoch).
    #[schema(value_type = u64)]
    pub since: Timestamp,
    pub host: String,
    pub port: u16,
    #[schema(value_type = Option<u64>)]
    pub last_attempt: Option<Timestamp>,
    #[schema(value_type = Option<u64>)]
    pub last_success: Option<Timestamp>,
    pub last_hash: Option<String>,
    pub failures: u32,
    /// The next timer: when the next attempt (or the running attempt's
    /// deadline) is due.
    #[schema(value_type = Option<u64>)]
    pub next_due: Option<Timestamp>,
    pub last_error: Option<LastError>,
    pub trusted_host_key: Option<String>,
    /// The key the device presented instead of the trusted one, while it
    /// is blocked on it: what an operator checks before accepting it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presented_host_key: Option<String>,
    /// Per-device sequence of the last event.
    pub seq: u64,
    /// When the device was (last) enrolled.
    #[schema(value_type = Option<u64>)]
    pub enrolled_at: Option<Timestamp>,
    pub interval_secs: u64,
    /// Events of this device in the log (its history's length).
    #[serde(default)]
    pub events: u64,
    /// Why this row may not say what the log means: a record of the device
    /// did not decode or broke its sequence (see the summary's problems).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_date: Option<String>,
    /// The newest snapshot was too large for one message and is in the
    /// object store: where, and by how much it exceeded the limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub stored_apart: Option<StoredApart>,
    /// The inventory's tags, as the log recorded them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// The last failure of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LastError {
    pub kind: String,
    pub message: String,
    #[schema(value_type = u64)]
    pub at: Timestamp,
}

/// A record of the log the board could not fold as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogProblem {
    /// Where it sits: the NATS subject or the redb key, and its position.
    pub location: String,
    pub global: GlobalSeq,
    pub device: Option<String>,
    pub problem: String,
}

/// Counts over the whole fleet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FleetSummary {
    pub devices: usize,
    /// Devices per phase, by phase name.
    pub phases: BTreeMap<String, usize>,
    /// Devices with no success within two intervals.
    pub stale: usize,
    pub backups_succeeded: u64,
    pub backups_failed: u64,
    pub backups_skipped: u64,
    /// What keeps the whole fleet from being backed up (log or snapshot
    /// store unavailable), if anything.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub health: Health,
    /// The log position folded so far.
    #[serde(default)]
    pub checkpoint: GlobalSeq,
    /// Records that could not be folded as they stand (the latest few).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_problems: Vec<LogProblem>,
    /// The notification receivers (`[[notify]]`) and how they are doing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<ReceiverStatus>,
}

/// What one folded envelope changed: what the metrics follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The phase the device left (`None`: the device is new to the board).
    pub left: Option<PhaseKind>,
    pub entered: PhaseKind,
    /// A finished attempt: `mikrotik_config_backup_total`'s status, the
    /// failure's kind (`None` unless it failed), and the duration when it
    /// collected.
    pub finished: Option<Finished>,
}

/// A finished attempt as the metrics count it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finished {
    /// `success`, `error`, `skipped` (lock held) or `skipped_offline`.
    pub status: &'static str,
    /// Why it failed (`auth`, `timeout`, …), when it did.
    pub failure: Option<&'static str>,
    pub seconds: Option<f64>,
}

/// One device as folded.
#[derive(Debug, Clone)]
struct Folded {
    state: DeviceState,
    enrolled_at: Option<Timestamp>,
    events: u64,
    out_of_date: Option<String>,
    /// Boxed: rare, and every device pays for the empty slot.
    stored_apart: Option<Box<StoredApart>>,
}

/// Problems kept for the summary (the log says the rest).
const PROBLEMS_KEPT: usize = 20;

/// The status projection.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard {
    /// Boxed: a map's nodes hold a pointer rather than the whole fold, so
    /// half-full nodes (devices enrolled in id order) waste 8 bytes a
    /// slot, not 288 (at a million devices, the difference is ~250 MB).
    devices: BTreeMap<DeviceId, Box<Folded>>,
    phases: [usize; PhaseKind::ALL.len()],
    /// Finished attempts by `mikrotik_config_backup_total` status.
    finished: BTreeMap<&'static str, u64>,
    blocked: BlockedTicks,
    succeeded: u64,
    failed: u64,
    skipped: u64,
    checkpoint: GlobalSeq,
    problems: VecDeque<LogProblem>,
    problems_total: u64,
    health: Health,
    shared: Shared,
    coverage: Coverage,
    receivers: BTreeMap<String, ReceiverStatus>,
    labels: query::Labels,
    /// The newest policy's slot count (what the runner's fleet runs at):
    /// kept for a checkpoint to hand the runner.
    slots: Option<usize>,
    /// When that policy was recorded (archived devices fold out of order).
    slots_at: Timestamp,
}

fn index(p: PhaseKind) -> usize {
    PhaseKind::ALL.iter().position(|q| *q == p).unwrap_or(0)
}

/// How the platform's `mikrotik_config_backup_total` counts an outcome: a
/// lock held elsewhere is its plain `skipped`.
fn finished(outcome: &Outcome) -> Finished {
    let (status, failure, seconds) = match outcome {
        Outcome::Collected { duration_ms, .. } => {
            ("success", None, Some(*duration_ms as f64 / 1000.0))
        }
        Outcome::Skipped {
            reason: SkipReason::Offline,
        } => ("skipped_offline", None, None),
        Outcome::Skipped {
            reason: SkipReason::LockHeld,
        } => ("skipped", None, None),
        Outcome::Failed { kind, .. } => ("error", Some(kind.name()), None),
    };
    Finished {
        status,
        failure,
        seconds,
    }
}

impl StatusBoard {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fold the envelope found at `global`. An envelope that repeats or
    /// skips part of its device's sequence is folded as well as it can be
    /// (a repeat changes nothing), and the row says it is out of date.
    pub fn apply(&mut self, global: GlobalSeq, env: &Envelope) -> Option<Change> {
        self.checkpoint = self.checkpoint.max(global);
        self.coverage.advance(env.at, self.active());
        self.fold(global, env)
    }

    /// Fold an envelope read from the archive (no log position; archived
    /// devices come one after the other, so the coverage chart, which
    /// follows log time, is not sampled from them: they are older than
    /// the live log anyway).
    pub fn apply_archived(&mut self, env: &Envelope) -> Option<Change> {
        self.fold(0, env)
    }

    fn fold(&mut self, global: GlobalSeq, env: &Envelope) -> Option<Change> {
        let folded = match self.devices.entry(env.device.clone()) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                self.labels.count(&env.tenant, &[], 1);
                v.insert(Box::new(Folded {
                    state: DeviceState::new(env.device.clone(), env.tenant.clone()),
                    enrolled_at: None,
                    events: 0,
                    out_of_date: None,
                    stored_apart: None,
                }))
            }
        };
        let expected = folded.state.seq + 1;
        if env.seq != expected {
            let problem = format!("sequence {} found where {expected} was expected", env.seq);
            folded.out_of_date = Some(problem.clone());
            self.remember(LogProblem {
                location: format!("device {} sequence {}", env.device, env.seq),
                global,
                device: Some(env.device.to_string()),
                problem,
            });
            if env.seq < expected {
                return None;
            }
        }
        let folded = self.devices.get_mut(&env.device)?;
        let left = (folded.events > 0).then(|| folded.state.phase.kind());
        // Tenant and tags change only here: counted as they change, so the
        // filters' facets cost nothing per request.
        let labels = matches!(
            env.event,
            Event::Enrolled { .. } | Event::TagsChanged { .. }
        )
        .then(|| (folded.state.tenant.clone(), folded.state.tags.clone()));
        let transition = step(&folded.state, env);
        let reenrolled = matches!(env.event, Event::Enrolled { .. }) && !folded.state.is_active();
        folded.state = transition.state;
        folded.state.share(&mut self.shared);
        if let Some(n) = crate::domain::fleet::slots_set_by(&env.event, &folded.state)
            && env.at >= self.slots_at
        {
            self.slots = Some(n);
            self.slots_at = env.at;
        }
        if let Some((tenant, tags)) = labels {
            self.labels.count(&tenant, &tags, -1);
            self.labels
                .count(&folded.state.tenant, &folded.state.tags, 1);
        }
        folded.events += 1;
        if reenrolled {
            folded.enrolled_at = Some(env.at);
        }
        let entered = folded.state.phase.kind();
        if let Some(left) = left {
            self.phases[index(left)] -= 1;
        }
        self.phases[index(entered)] += 1;
        let interval_ms = folded.state.policy.interval_secs.saturating_mul(1000);
        self.blocked
            .moved(&env.device, left, entered, env.at, interval_ms);
        if let Event::AttemptFinished {
            outcome: Outcome::Collected { stored_apart, .. },
            ..
        } = &env.event
        {
            folded.stored_apart = stored_apart.clone().map(Box::new);
        }
        if matches!(
            env.event,
            Event::AttemptFinished { .. }
                | Event::PolicyChanged { .. }
                | Event::Enrolled { .. }
                | Event::Retired
        ) {
            let end = coverage_end(&folded.state);
            self.coverage.set(&env.device, end);
        }
        let finished = match &env.event {
            Event::AttemptFinished { outcome, .. } => Some(self.count_outcome(outcome)),
            _ => None,
        };
        Some(Change {
            left,
            entered,
            finished,
        })
    }

    fn count_outcome(&mut self, outcome: &Outcome) -> Finished {
        match outcome {
            Outcome::Collected { .. } => self.succeeded += 1,
            Outcome::Failed { .. } => self.failed += 1,
            Outcome::Skipped { .. } => self.skipped += 1,
        }
        let done = finished(outcome);
        *self.finished.entry(done.status).or_default() += 1;
        done
    }

    /// A record at `global` that did not decode: kept as a problem, its
    /// device (when known) marked out of date.
    pub fn reject(
        &mut self,
        global: GlobalSeq,
        location: &str,
        device: Option<&DeviceId>,
        problem: &str,
    ) {
        self.checkpoint = self.checkpoint.max(global);
        if let Some(folded) = device.and_then(|d| self.devices.get_mut(d)) {
            folded.out_of_date = Some(format!("a record at {location} does not decode"));
        }
        self.remember(LogProblem {
            location: location.to_owned(),
            global,
            device: device.map(|d| d.to_string()),
            problem: problem.to_owned(),
        });
    }

    fn remember(&mut self, problem: LogProblem) {
        self.problems_total += 1;
        if self.problems.len() == PROBLEMS_KEPT {
            self.problems.pop_front();
        }
        self.problems.push_back(problem);
    }

    /// The latest problem and how many there were since start.
    pub fn last_problem(&self) -> (u64, Option<&LogProblem>) {
        (self.problems_total, self.problems.back())
    }

    /// The last log position folded (0: none): where a projector resumes.
    pub fn checkpoint(&self) -> GlobalSeq {
        self.checkpoint
    }

    /// The notification receivers and how each is doing.
    pub fn receivers(&self) -> impl Iterator<Item = &ReceiverStatus> {
        self.receivers.values()
    }

    /// How a notification receiver is doing, shown beside the fleet.
    pub fn set_receiver(&mut self, status: ReceiverStatus) {
        self.receivers.insert(status.name.clone(), status);
    }

    /// The daemon's own health, shown beside the fleet.
    pub fn set_health(&mut self, health: Health) {
        self.health = health;
    }

    /// Attempts that collected, failed and were skipped, without the cost
    /// of a [`summary`](Self::summary) (which visits every device).
    pub fn backups(&self) -> (u64, u64, u64) {
        (self.succeeded, self.failed, self.skipped)
    }

    /// Finished attempts per `mikrotik_config_backup_total` status.
    pub fn finished(&self) -> &BTreeMap<&'static str, u64> {
        &self.finished
    }

    /// The ticks the platform's scheduler would have skipped by `now` for
    /// devices in `block` (see [`BlockedTicks`]).
    pub fn blocked_ticks(&self, block: Block, now: Timestamp) -> u64 {
        self.blocked.total(block, now)
    }

    /// Devices whose newest snapshot is in the object store (too large for
    /// one message), with where and by how much.
    pub fn stored_apart(&self) -> impl Iterator<Item = (&DeviceId, &StoredApart)> {
        self.devices
            .iter()
            .filter_map(|(d, f)| Some((d, f.stored_apart.as_deref()?)))
    }

    /// Devices enrolled and not retired.
    pub fn active(&self) -> usize {
        self.devices.len() - self.count(PhaseKind::Retired) - self.count(PhaseKind::Unenrolled)
    }

    /// Active devices with a backup fresher than two of their intervals
    /// at `now`, and the hourly samples of the same over the last days.
    pub fn coverage(&self, now: Timestamp) -> (CoverageSample, Vec<CoverageSample>) {
        let current = CoverageSample {
            at: now,
            devices: self.active(),
            covered: self.coverage.covered_at(now).min(self.active()),
        };
        (current, self.coverage.samples().copied().collect())
    }

    /// Devices currently in `phase`.
    pub fn count(&self, phase: PhaseKind) -> usize {
        self.phases[index(phase)]
    }

    /// Devices known to the board (any phase).
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    pub fn get(&self, device: &DeviceId) -> Option<DeviceStatus> {
        self.devices.get(device).map(|f| row(f))
    }

    /// Every device, in id order.
    pub fn rows(&self) -> impl Iterator<Item = DeviceStatus> + '_ {
        self.devices.values().map(|f| row(f))
    }

    /// Whether a device has gone two intervals without a success at `now`.
    pub fn is_stale(row: &DeviceStatus, now: Timestamp) -> bool {
        stale(
            row.phase,
            row.last_success.or(row.enrolled_at).unwrap_or(row.since),
            row.interval_secs,
            now,
        )
    }

    /// Counts per phase and stale devices at `now`.
    pub fn summary(&self, now: Timestamp) -> FleetSummary {
        let mut phases: BTreeMap<String, usize> = PhaseKind::ALL
            .iter()
            .map(|p| (p.name().to_owned(), self.count(*p)))
            .collect();
        phases.retain(|k, v| *v > 0 || *k != "unenrolled");
        let stale = self
            .devices
            .values()
            .filter(|f| {
                let s = &f.state;
                let from = s.last_success.or(f.enrolled_at).unwrap_or(s.since);
                stale(s.phase.kind(), from, s.policy.interval_secs, now)
            })
            .count();
        FleetSummary {
            devices: self.devices.len(),
            phases,
            stale,
            backups_succeeded: self.succeeded,
            backups_failed: self.failed,
            backups_skipped: self.skipped,
            health: self.health.clone(),
            checkpoint: self.checkpoint,
            log_problems: self.problems.iter().cloned().collect(),
            notifications: self.receivers.values().cloned().collect(),
        }
    }
}

/// When a device's last backup stops counting as fresh (two intervals
/// after it); `None` when it has none or is not active.
fn coverage_end(state: &DeviceState) -> Option<Timestamp> {
    if !state.is_active() {
        return None;
    }
    let success = state.last_success?;
    Some(Timestamp(success.0.saturating_add(
        state.policy.interval_secs.saturating_mul(2000),
    )))
}

fn stale(phase: PhaseKind, from: Timestamp, interval_secs: u64, now: Timestamp) -> bool {
    if matches!(phase, PhaseKind::Retired | PhaseKind::Unenrolled) {
        return false;
    }
    now.millis_since(from) > interval_secs.saturating_mul(2000)
}

fn row(f: &Folded) -> DeviceStatus {
    let state = &f.state;
    DeviceStatus {
        device: state.device.to_string(),
        tenant: state.tenant.to_string(),
        phase: state.phase.kind(),
        since: state.since,
        host: state.host.to_string(),
        port: state.port,
        last_attempt: state.last_attempt,
        last_success: state.last_success,
        last_hash: state.last_hash.as_deref().map(str::to_owned),
        failures: state.failures,
        next_due: state.deadline().map(|(_, at)| at),
        last_error: state.last_failure.as_ref().map(|f| LastError {
            kind: f.kind.name().to_owned(),
            message: f.message.clone(),
            at: f.at,
        }),
        trusted_host_key: state.trusted_host_key.as_deref().map(str::to_owned),
        presented_host_key: match &state.phase {
            crate::domain::Phase::HostKeyBlocked { presented, .. } => Some(presented.to_string()),
            _ => None,
        },
        seq: state.seq,
        enrolled_at: f.enrolled_at,
        interval_secs: state.policy.interval_secs,
        events: f.events,
        out_of_date: f.out_of_date.clone(),
        stored_apart: f.stored_apart.as_deref().cloned(),
        tags: state.tags.to_vec(),
    }
}

#[path = "status_query.rs"]
mod query;

#[path = "board_checkpoint.rs"]
mod checkpoint;
pub use checkpoint::{BodyError, FORMAT as CHECKPOINT_FORMAT};
pub use query::{DeviceFilter, DevicePage, Facets};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TenantId;
    use crate::store::fold::sample_history;

    fn history(name: &str, n: u64) -> Vec<Envelope> {
        let d = DeviceId::parse(name).unwrap();
        let t = TenantId::parse("acme").unwrap();
        sample_history(&d, &t, Timestamp(1_700_000_000_000), n)
    }

    #[test]
    fn facets_follow_enrolments_and_tag_changes() {
        let mut board = StatusBoard::new();
        let mut global = 0;
        for name in ["a", "b"] {
            for env in history(name, 3) {
                global += 1;
                board.apply(global, &env);
            }
        }
        let a = history("a", 3).pop().unwrap();
        let retag = |seq, tags: &[&str]| Envelope {
            seq,
            event: Event::TagsChanged {
                tags: tags.iter().map(|t| t.to_string()).collect(),
            },
            ..a.clone()
        };
        board.apply(global + 1, &retag(4, &["core", "lab"]));
        board.apply(global + 2, &retag(5, &["core"]));
        let f = board.facets();
        assert_eq!(f.tenants.get("acme"), Some(&2));
        assert_eq!(f.tags.get("core"), Some(&1));
        assert_eq!(f.tags.get("lab"), None, "a tag no device has is gone");
    }

    #[test]
    fn counts_follow_the_history_and_phases_sum_to_the_devices() {
        let mut board = StatusBoard::new();
        let mut global = 0;
        let mut collected = 0;
        for name in ["a", "b", "c"] {
            for env in history(name, 30) {
                global += 1;
                if matches!(
                    env.event,
                    Event::AttemptFinished {
                        outcome: Outcome::Collected { .. },
                        ..
                    }
                ) {
                    collected += 1;
                }
                board.apply(global, &env);
            }
        }
        assert_eq!(board.backups().0, collected);
        assert_eq!(board.finished().get("success").copied(), Some(collected));
        let sum: usize = PhaseKind::ALL.iter().map(|p| board.count(*p)).sum();
        assert_eq!(sum, 3);
        assert_eq!(board.checkpoint(), 90);
        assert!(
            board
                .rows()
                .all(|r| r.events == 30 && r.out_of_date.is_none())
        );
    }

    #[test]
    fn a_broken_sequence_marks_the_device_and_the_rest_goes_on() {
        let mut board = StatusBoard::new();
        let a = history("a", 10);
        let b = history("b", 3);
        for (i, env) in a.iter().enumerate().filter(|(i, _)| *i != 4) {
            board.apply(i as u64 + 1, env);
        }
        board.apply(11, &a[2]); // a repeat
        for (i, env) in b.iter().enumerate() {
            board.apply(12 + i as u64, env);
        }
        let ra = board.get(&DeviceId::parse("a").unwrap()).unwrap();
        assert_eq!(ra.seq, 10, "folded past the gap");
        assert!(
            ra.out_of_date
                .as_deref()
                .unwrap()
                .contains("sequence 3 found where 11")
        );
        let rb = board.get(&DeviceId::parse("b").unwrap()).unwrap();
        assert_eq!((rb.seq, rb.out_of_date), (3, None));
        let problems = board.summary(Timestamp(0)).log_problems;
        assert_eq!(problems.len(), 2);
        assert!(
            problems[0].location.contains("device a sequence 6"),
            "{problems:?}"
        );
        board.reject(
            20,
            "stream S subject backup.events.acme.b",
            Some(&DeviceId::parse("b").unwrap()),
            "bad",
        );
        let rb = board.get(&DeviceId::parse("b").unwrap()).unwrap();
        assert!(
            rb.out_of_date
                .unwrap()
                .contains("subject backup.events.acme.b")
        );
        assert_eq!(board.checkpoint(), 20);
    }
}
