//! The daemon's own health: what stops the whole fleet rather than one
//! device — the event log or the snapshot store being unavailable (a full
//! disk, a lost NATS cluster). The runner reports it as it changes, so that
//! operators see it beside the fleet, not only in the daemon's log. (The
//! fleet itself is a fold of the log: projections read the log, not the
//! runner.)

use serde::{Deserialize, Serialize};

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
