//! The persisted inputs of a device's machine, and the envelope they travel in.
//!
//! Every input a machine reacts to (an operator command, a timer, the result
//! of an attempt) is an [`Event`], wrapped in an [`Envelope`] and appended to
//! the log *before* it takes effect. State is a fold of these envelopes.
//!
//! No secret ever enters an event: no password, no configuration text (only
//! its SHA-256 and size).
//!
//! JSON is the wire format (`serde_json`), so `nats stream view` shows it as
//! is. [`Envelope::decode`] is the only way in from bytes: it checks the
//! schema version and names what it could not read, never panics.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::policy::RetryPolicy;
use super::time::Timestamp;

/// Schema version written by this build. [`Envelope::decode`] accepts this
/// version and every older one it knows how to upcast. Schema 3 adds
/// `stored_apart` to a collected outcome (absent, i.e. `None`, in older
/// events: nothing to upcast); a release of schema 2 refuses such an event
/// by its version rather than by an unknown field. Schema 4 adds the
/// inventory's `tags` to `Enrolled` (absent in older events: none) and the
/// `tags_changed` event, so that an auditor with the log alone can filter
/// by tag and see why a device got the policy it has.
pub const SCHEMA_VERSION: u32 = 4;

/// Identifier of a device, as it appears in the inventory and in subjects.
///
/// It becomes one token of a NATS subject and a file name, so it may only
/// hold ASCII letters, digits, `-` and `_` (see [`DeviceId::parse`]).
///
/// Reading one from JSON checks it the same way, so an id that could not be
/// a subject token never enters a state from the log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct DeviceId(Arc<str>);

/// Identifier of a tenant (an operator's customer or site group); same
/// alphabet as [`DeviceId`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TenantId(Arc<str>);

impl<'de> Deserialize<'de> for DeviceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = std::borrow::Cow::<str>::deserialize(d)?;
        DeviceId::parse(&value).map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = std::borrow::Cow::<str>::deserialize(d)?;
        TenantId::parse(&value).map_err(serde::de::Error::custom)
    }
}

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} {value:?} is longer than 128 characters")]
    TooLong { what: &'static str, value: String },
    #[error(
        "{what} {value:?} contains {found:?}: only ASCII letters, digits, '-' and '_' are allowed (it becomes a NATS subject token and a file name)"
    )]
    BadCharacter {
        what: &'static str,
        value: String,
        found: char,
    },
}

fn check_token(what: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { what });
    }
    if value.len() > 128 {
        return Err(IdError::TooLong {
            what,
            value: value.to_owned(),
        });
    }
    if let Some(found) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(IdError::BadCharacter {
            what,
            value: value.to_owned(),
            found,
        });
    }
    Ok(())
}

impl DeviceId {
    /// A device id, checked to be usable as a subject token and file name.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        check_token("device id", value)?;
        Ok(Self(Arc::from(value)))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TenantId {
    /// Whether both are the very same allocation (cheaper than `==`).
    pub fn same_allocation(&self, other: &TenantId) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// A tenant id, checked like a [`DeviceId`].
    pub fn parse(value: &str) -> Result<Self, IdError> {
        check_token("tenant id", value)?;
        Ok(Self(Arc::from(value)))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The number of an attempt, counted per device from 1.
pub type AttemptId = u64;

/// The id of a manual trigger request, chosen by the requester; every
/// request is answered exactly once with a [`super::effect::TriggerReply`].
pub type RequestId = String;

/// Which timer fired. Each phase with a deadline owns exactly one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    /// When to take the first backup after enrolment.
    Jitter,
    /// When the next regular backup is due.
    Scheduled,
    /// When to retry after a transient failure or a skip.
    Backoff,
    /// When to give up on an attempt whose result never came (the runner died).
    AttemptDeadline,
}

/// Why an attempt did not try to collect. Not a failure: the consecutive
/// failure count is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The online gate says the device is offline.
    Offline,
    /// Another collector holds the device's lock.
    LockHeld,
}

/// What went wrong in an attempt, as data (a failure of the world, not ours).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The device refused our credentials. Blocks the device: retrying would
    /// lock the account.
    AuthFailed,
    /// The device presented a host key other than the trusted one. Blocks the
    /// device: it may be an impostor.
    HostKeyMismatch {
        presented: String,
    },
    Timeout,
    ConnectionRefused,
    Unreachable,
    /// The output ended before the exit status (a cut-off export).
    Truncated,
    /// The output is not a complete RouterOS export.
    InvalidOutput,
    /// The output exceeded the cap.
    TooLarge,
    /// The export was collected but the snapshot could not be published.
    PublishFailed,
    /// The attempt's deadline passed without a result (the runner died).
    Abandoned,
    Other,
}

impl FailureKind {
    /// A transient failure is retried on the backoff ladder; the others block.
    /// Every kind is listed: a new one must be decided here.
    pub fn is_transient(&self) -> bool {
        match self {
            FailureKind::AuthFailed | FailureKind::HostKeyMismatch { .. } => false,
            FailureKind::Timeout
            | FailureKind::ConnectionRefused
            | FailureKind::Unreachable
            | FailureKind::Truncated
            | FailureKind::InvalidOutput
            | FailureKind::TooLarge
            | FailureKind::PublishFailed
            | FailureKind::Abandoned
            | FailureKind::Other => true,
        }
    }

    /// A short, stable name for logs, metrics and exit codes.
    pub fn name(&self) -> &'static str {
        match self {
            FailureKind::AuthFailed => "auth_failed",
            FailureKind::HostKeyMismatch { .. } => "host_key_mismatch",
            FailureKind::Timeout => "timeout",
            FailureKind::ConnectionRefused => "connection_refused",
            FailureKind::Unreachable => "unreachable",
            FailureKind::Truncated => "truncated",
            FailureKind::InvalidOutput => "invalid_output",
            FailureKind::TooLarge => "too_large",
            FailureKind::PublishFailed => "publish_failed",
            FailureKind::Abandoned => "abandoned",
            FailureKind::Other => "other",
        }
    }
}

/// Where a config too large for one snapshot message went instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredApart {
    /// The object holding the normalized text: `<bucket>/<name>`.
    pub object: String,
    /// The snapshot message's size had it carried the text.
    pub message_bytes: u64,
    /// The server's `max_payload` it exceeded.
    pub max_payload: u64,
}

impl StoredApart {
    /// By how many bytes the message would have exceeded the limit.
    pub fn over_by(&self) -> u64 {
        self.message_bytes.saturating_sub(self.max_payload)
    }
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// A complete export was collected, normalized, hashed and published.
    Collected {
        /// SHA-256 of the normalized export, lowercase hex.
        sha256: String,
        /// Size of the normalized export in bytes.
        bytes: u64,
        /// Fingerprint of the host key the device presented (`SHA256:…`).
        host_key: String,
        /// How long the attempt took, in milliseconds.
        duration_ms: u64,
        /// RouterOS version from the export's header (`7.15.3`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        routeros_version: Option<String>,
        /// The config was too large for one snapshot message and was
        /// stored apart (JetStream's object store), the message naming it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stored_apart: Option<StoredApart>,
    },
    /// The attempt did not try (offline, lock held).
    Skipped { reason: SkipReason },
    /// The attempt failed; `message` never holds a secret or config text.
    Failed {
        kind: FailureKind,
        message: String,
        /// What the attempt learned on the way (schema 2; empty in older
        /// events and when it learned nothing).
        #[serde(default, skip_serializing_if = "Learned::is_empty")]
        learned: Learned,
    },
}

/// What a failed attempt learned before it failed: recorded so that the
/// next attempt and the audit trail know it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Learned {
    /// The RouterOS major version (6 when RouterOS 6 refused `show-sensitive`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routeros_major: Option<u32>,
    /// The host key the device presented, when key exchange got that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
    /// The stage that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<AttemptStage>,
}

impl Learned {
    pub fn is_empty(&self) -> bool {
        *self == Learned::default()
    }
}

/// How far an attempt got. Ordered: a later stage means more was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStage {
    /// Resolving the name and opening the TCP connection.
    Connect,
    /// SSH identification, key exchange, the host-key check (no password
    /// sent yet).
    KeyExchange,
    /// Password or key authentication.
    Auth,
    /// Opening the session channel and starting the export.
    Exec,
    /// Reading the export.
    Read,
    /// Checking the output is a complete export.
    Validate,
    /// Publishing the snapshot.
    Publish,
}

impl AttemptStage {
    /// The stage in the operator's words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            AttemptStage::Connect => "connecting",
            AttemptStage::KeyExchange => "key exchange",
            AttemptStage::Auth => "authentication",
            AttemptStage::Exec => "starting the export",
            AttemptStage::Read => "reading the export",
            AttemptStage::Validate => "checking the export",
            AttemptStage::Publish => "publishing the snapshot",
        }
    }
}

/// A persisted input of a device's machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    // --- commands ---
    /// The device joined the inventory (or its address changed).
    Enrolled {
        tenant: TenantId,
        host: String,
        port: u16,
        /// Delay before the first backup, in milliseconds, drawn once by the
        /// recorder so that replay lands on the same schedule.
        jitter_ms: u64,
        /// The policy in force for this device from now on.
        policy: RetryPolicy,
        /// The inventory's tags for the device (schema 4).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
    },
    /// The device's tags in the inventory changed (nothing else did).
    TagsChanged { tags: Vec<String> },
    /// The device left the inventory. Its history stays.
    Retired,
    /// An operator asked for a backup now.
    TriggerRequested { request: RequestId },
    /// The operator fixed the device's credentials.
    CredentialsUpdated,
    /// The operator told us to forget the trusted host key (trust the next one).
    HostKeyReset,
    /// The operator told us to trust this host key.
    HostKeyAccepted { fingerprint: String },
    /// The policy in force changed.
    PolicyChanged { policy: RetryPolicy },
    // --- timers ---
    /// A deadline of the machine passed.
    TimerFired { timer: TimerKind, due: Timestamp },
    // --- results ---
    /// An attempt ended.
    AttemptFinished {
        attempt: AttemptId,
        outcome: Outcome,
    },
}

impl Event {
    /// The serde tag of this event, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Enrolled { .. } => "enrolled",
            Event::Retired => "retired",
            Event::TriggerRequested { .. } => "trigger_requested",
            Event::CredentialsUpdated => "credentials_updated",
            Event::HostKeyReset => "host_key_reset",
            Event::HostKeyAccepted { .. } => "host_key_accepted",
            Event::PolicyChanged { .. } => "policy_changed",
            Event::TagsChanged { .. } => "tags_changed",
            Event::TimerFired { .. } => "timer_fired",
            Event::AttemptFinished { .. } => "attempt_finished",
        }
    }
}

/// Names of every event type this build understands.
pub const EVENT_TYPES: &[&str] = &[
    "enrolled",
    "retired",
    "trigger_requested",
    "credentials_updated",
    "host_key_reset",
    "host_key_accepted",
    "policy_changed",
    "tags_changed",
    "timer_fired",
    "attempt_finished",
];

/// The phase a machine is in, without its data: what `after` records and
/// projections count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    Unenrolled,
    Jitter,
    Idle,
    Running,
    Backoff,
    AuthBlocked,
    HostKeyBlocked,
    Retired,
}

impl PhaseKind {
    pub const ALL: [PhaseKind; 8] = [
        PhaseKind::Unenrolled,
        PhaseKind::Jitter,
        PhaseKind::Idle,
        PhaseKind::Running,
        PhaseKind::Backoff,
        PhaseKind::AuthBlocked,
        PhaseKind::HostKeyBlocked,
        PhaseKind::Retired,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PhaseKind::Unenrolled => "unenrolled",
            PhaseKind::Jitter => "jitter",
            PhaseKind::Idle => "idle",
            PhaseKind::Running => "running",
            PhaseKind::Backoff => "backoff",
            PhaseKind::AuthBlocked => "auth_blocked",
            PhaseKind::HostKeyBlocked => "host_key_blocked",
            PhaseKind::Retired => "retired",
        }
    }
}

/// What an event led to, as decided when it was recorded: the audit view
/// shows it, and `replay --verify` compares it with what today's rules decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct After {
    pub phase: PhaseKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<(TimerKind, Timestamp)>,
}

/// An event with everything needed to file, order and audit it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Schema version of this envelope ([`SCHEMA_VERSION`] when written).
    pub schema: u32,
    pub device: DeviceId,
    pub tenant: TenantId,
    /// Per-device sequence, from 1, without gaps.
    pub seq: u64,
    /// When the event was recorded (stamped once, by the recorder).
    pub at: Timestamp,
    /// Which daemon recorded it.
    pub node: String,
    /// A trigger's request id or an attempt id, to follow one story.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<String>,
    pub event: Event,
    /// What this event led to, as decided when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<After>,
}

/// Why bytes could not be read as an [`Envelope`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("envelope schema version {found} is newer than this build supports ({supported})")]
    NewerSchema { found: u32, supported: u32 },
    #[error("unknown event type {found:?} (known: {})", EVENT_TYPES.join(", "))]
    UnknownEvent { found: String },
    #[error("not a valid envelope: {reason}")]
    Malformed { reason: String },
}

impl Envelope {
    /// Serialize to JSON. Cannot fail for these types; an error would be a bug
    /// in a `Serialize` impl, reported rather than panicking.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        serde_json::to_vec(self).map_err(|e| DecodeError::Malformed {
            reason: e.to_string(),
        })
    }

    /// Read an envelope from JSON, upcasting older schema versions.
    ///
    /// Schema 1 (before 2026-12) had no `learned` in a failed outcome: it
    /// reads as "learned nothing", which is what it knew. `schema` stays as
    /// written, so the audit trail says which release recorded it.
    ///
    /// The fast path is one typed parse; only when it fails (or the schema is
    /// newer) do we look closer, to say exactly what was wrong.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
        match serde_json::from_slice::<Envelope>(bytes) {
            Ok(env) if env.schema <= SCHEMA_VERSION => Ok(env),
            Ok(env) => Err(DecodeError::NewerSchema {
                found: env.schema,
                supported: SCHEMA_VERSION,
            }),
            Err(err) => Err(Self::diagnose(bytes, err)),
        }
    }

    /// The device a stored record belongs to, read from a record that does
    /// not decode as a whole: so a bad record can be pinned on its device
    /// (whose status then says it is out of date) instead of on nobody.
    pub fn probe_device(bytes: &[u8]) -> Option<DeviceId> {
        #[derive(Deserialize)]
        struct Probe {
            device: Option<String>,
        }
        let probe = serde_json::from_slice::<Probe>(bytes).ok()?;
        DeviceId::parse(probe.device.as_deref()?).ok()
    }

    fn diagnose(bytes: &[u8], err: serde_json::Error) -> DecodeError {
        #[derive(Deserialize)]
        struct Probe {
            schema: Option<u32>,
            event: Option<EventProbe>,
        }
        #[derive(Deserialize)]
        struct EventProbe {
            #[serde(rename = "type")]
            kind: Option<String>,
        }
        let Ok(probe) = serde_json::from_slice::<Probe>(bytes) else {
            return DecodeError::Malformed {
                reason: err.to_string(),
            };
        };
        if let Some(found) = probe.schema
            && found > SCHEMA_VERSION
        {
            return DecodeError::NewerSchema {
                found,
                supported: SCHEMA_VERSION,
            };
        }
        if let Some(kind) = probe.event.and_then(|e| e.kind)
            && !EVENT_TYPES.contains(&kind.as_str())
        {
            return DecodeError::UnknownEvent { found: kind };
        }
        DecodeError::Malformed {
            reason: err.to_string(),
        }
    }
}
