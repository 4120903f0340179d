//! What the runner must do after an event was recorded.
//!
//! Effects are values returned by `step`; the machine performs none of them.
//! Timers are not effects: after every step the runner asks
//! `DeviceState::deadline()` and arms one timer per device.

use serde::{Deserialize, Serialize};

use super::event::{AttemptId, FailureKind, PhaseKind, RequestId, SkipReason};
use super::event::{DeviceId, TenantId};

/// Work for the runner, in the order it must be done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Run one backup attempt and record its `AttemptFinished`.
    Collect(AttemptRequest),
    /// Answer a manual trigger.
    Reply {
        request: RequestId,
        reply: TriggerReply,
    },
    /// Write the newly trusted host key back to the inventory.
    TrustHostKey {
        fingerprint: String,
        /// Who decided to trust it.
        actor: TrustActor,
    },
    /// A backup verified the trusted host key (the inventory may note when).
    HostKeyVerified { fingerprint: String },
    /// Remove the trusted host key from the inventory (trust the next one).
    ForgetHostKey,
}

/// One backup attempt as the machine decided it: the one shape that goes
/// from the machine through the runner to the collector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRequest {
    pub device: DeviceId,
    pub tenant: TenantId,
    pub attempt: AttemptId,
    pub host: String,
    pub port: u16,
    /// Fingerprint the device must present (`None`: trust on first use).
    pub trusted_host_key: Option<String>,
    /// RouterOS major version seen last time (a failed attempt's included),
    /// so the collector asks with the right command first (`/export` on 6,
    /// `show-sensitive` on 7).
    pub routeros_major: Option<u32>,
    /// Bound on the whole attempt, in seconds.
    pub timeout_secs: u64,
}

/// Who trusted a host key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustActor {
    /// The first backup saw it and nothing was trusted yet (TOFU).
    FirstUse,
    /// An operator accepted it (`HostKeyAccepted`).
    Operator,
}

impl TrustActor {
    pub fn name(self) -> &'static str {
        match self {
            TrustActor::FirstUse => "first_use",
            TrustActor::Operator => "operator",
        }
    }
}

/// The answer to a manual trigger. Every trigger gets exactly one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum TriggerReply {
    /// The triggered attempt collected a snapshot.
    Success { sha256: String },
    /// An attempt is already running; this trigger started nothing.
    Conflict { attempt: AttemptId },
    /// The device is blocked; an operator must act first.
    Blocked { phase: PhaseKind, reason: String },
    /// No such device (never enrolled, or retired).
    NotFound,
    /// The triggered attempt failed.
    Failed { kind: FailureKind, message: String },
    /// The triggered attempt did not try (offline, lock held).
    Skipped { reason: SkipReason },
}

impl TriggerReply {
    /// A short, stable name for the reply.
    pub fn name(&self) -> &'static str {
        match self {
            TriggerReply::Success { .. } => "success",
            TriggerReply::Conflict { .. } => "conflict",
            TriggerReply::Blocked { .. } => "blocked",
            TriggerReply::NotFound => "not_found",
            TriggerReply::Failed { .. } => "failed",
            TriggerReply::Skipped { .. } => "skipped",
        }
    }
}
