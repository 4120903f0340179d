//! Status: one row per device and the fleet summary, folded from
//! `(envelope, state after)` pairs.
//!
//! The runner applies every recorded envelope (at replay and live), so the
//! board always says what the log says. A device is *stale* when it has no
//! success within two of its intervals (counted from enrolment when it never
//! succeeded).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::observer::Health;
use crate::domain::{DeviceId, DeviceState, Envelope, Event, Outcome, PhaseKind, Timestamp};

/// What an operator sees for one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStatus {
    pub device: String,
    pub tenant: String,
    pub phase: PhaseKind,
    /// When the current phase was entered (ms since the epoch).
    pub since: Timestamp,
    pub host: String,
    pub port: u16,
    pub last_attempt: Option<Timestamp>,
    pub last_success: Option<Timestamp>,
    pub last_hash: Option<String>,
    pub failures: u32,
    /// The next timer: when the next attempt (or the running attempt's
    /// deadline) is due.
    pub next_due: Option<Timestamp>,
    pub last_error: Option<LastError>,
    pub trusted_host_key: Option<String>,
    /// Per-device sequence of the last event.
    pub seq: u64,
    /// When the device was (last) enrolled.
    pub enrolled_at: Option<Timestamp>,
    pub interval_secs: u64,
}

/// The last failure of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    pub kind: String,
    pub message: String,
    pub at: Timestamp,
}

/// Counts over the whole fleet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    pub health: Health,
}

/// The status projection.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard {
    rows: BTreeMap<DeviceId, DeviceStatus>,
    succeeded: u64,
    failed: u64,
    skipped: u64,
    health: Health,
}

impl crate::domain::observer::Observer for StatusBoard {
    fn recorded(&mut self, envelope: &Envelope, state: &DeviceState) {
        self.apply(envelope, state);
    }

    fn health(&mut self, health: &Health) {
        self.health = health.clone();
    }
}

impl StatusBoard {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fold one recorded envelope and the state it led to.
    pub fn apply(&mut self, env: &Envelope, state: &DeviceState) {
        if let Event::AttemptFinished { outcome, .. } = &env.event {
            match outcome {
                Outcome::Collected { .. } => self.succeeded += 1,
                Outcome::Failed { .. } => self.failed += 1,
                Outcome::Skipped { .. } => self.skipped += 1,
            }
        }
        let enrolled_at = match (&env.event, self.rows.get(&env.device)) {
            (Event::Enrolled { .. }, Some(row)) if row.phase != PhaseKind::Retired => {
                row.enrolled_at
            }
            (Event::Enrolled { .. }, _) => Some(env.at),
            (_, Some(row)) => row.enrolled_at,
            (_, None) => None,
        };
        let row = DeviceStatus {
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
            seq: state.seq,
            enrolled_at,
            interval_secs: state.policy.interval_secs,
        };
        self.rows.insert(state.device.clone(), row);
    }

    /// Attempts that collected, failed and were skipped, without the cost
    /// of a [`summary`](Self::summary) (which visits every device).
    pub fn backups(&self) -> (u64, u64, u64) {
        (self.succeeded, self.failed, self.skipped)
    }

    pub fn get(&self, device: &DeviceId) -> Option<&DeviceStatus> {
        self.rows.get(device)
    }

    /// Every device, in id order.
    pub fn rows(&self) -> impl Iterator<Item = &DeviceStatus> {
        self.rows.values()
    }

    /// Whether a device has gone two intervals without a success at `now`.
    pub fn is_stale(row: &DeviceStatus, now: Timestamp) -> bool {
        if matches!(row.phase, PhaseKind::Retired | PhaseKind::Unenrolled) {
            return false;
        }
        let from = row.last_success.or(row.enrolled_at).unwrap_or(row.since);
        now.millis_since(from) > row.interval_secs.saturating_mul(2000)
    }

    /// Counts per phase and stale devices at `now`.
    pub fn summary(&self, now: Timestamp) -> FleetSummary {
        let mut phases: BTreeMap<String, usize> = PhaseKind::ALL
            .iter()
            .map(|p| (p.name().to_owned(), 0))
            .collect();
        let mut stale = 0;
        for row in self.rows.values() {
            *phases.entry(row.phase.name().to_owned()).or_default() += 1;
            if Self::is_stale(row, now) {
                stale += 1;
            }
        }
        phases.retain(|k, v| *v > 0 || *k != "unenrolled");
        FleetSummary {
            devices: self.rows.len(),
            phases,
            stale,
            backups_succeeded: self.succeeded,
            backups_failed: self.failed,
            backups_skipped: self.skipped,
            health: self.health.clone(),
        }
    }
}
