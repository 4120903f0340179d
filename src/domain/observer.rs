//! What a read model implements to follow the log.
//!
//! The runner hands every recorded envelope, with the state it led to, to
//! its observers — at replay and live. Projections (status, history,
//! metrics) implement this trait, so the runner needs no projection and no
//! projection needs the runner.
//!
//! The runner also reports what stops the whole fleet rather than one
//! device — the event log or the snapshot store being unavailable (a full
//! disk, a lost NATS cluster) — so that operators see it beside the fleet,
//! not only in the daemon's log.

use serde::{Deserialize, Serialize};

use super::event::Envelope;
use super::machine::DeviceState;
use super::time::Timestamp;

/// A part the daemon cannot use at the moment: no attempts start until it
/// is back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    /// When it was first noticed (ms since the epoch).
    pub since: Timestamp,
    /// The last error, as the part reported it (never a secret).
    pub error: String,
}

/// The daemon's own health, beside the fleet's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The event log refuses appends: nothing new is recorded or started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_log: Option<Outage>,
    /// Snapshots cannot be published: attempts are paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots: Option<Outage>,
}

impl Health {
    /// Whether every part works.
    pub fn is_ok(&self) -> bool {
        self.event_log.is_none() && self.snapshots.is_none()
    }
}

/// Folds `(envelope, state after)` pairs.
pub trait Observer: Send {
    fn recorded(&mut self, envelope: &Envelope, state: &DeviceState);

    /// The daemon's health changed.
    fn health(&mut self, _health: &Health) {}
}
