//! One device's backup lifecycle as a pure state machine.
//!
//! [`step`] takes the current [`DeviceState`] and one recorded [`Envelope`]
//! and returns the next state plus the [`Effect`]s the runner must perform.
//! It reads no clock (time is `Envelope::at`), draws no randomness (the
//! enrolment jitter is carried in `Enrolled`) and never panics on a stored
//! event: an input that does not apply in the current phase is a recorded
//! no-op ([`Disposition::Ignored`]) or an explicit refusal answered with a
//! `Reply` ([`Disposition::Refused`]).
//!
//! ```text
//!  Enrolled ─► Jitter ─timer/trigger─► Running ─Collected─► Idle ─timer/trigger─► Running
//!                                        │ ├─transient─► Backoff ─timer/trigger─► Running
//!                                        │ ├─AuthFailed─► AuthBlocked ─CredentialsUpdated─► Idle(due now)
//!                                        │ └─HostKeyMismatch─► HostKeyBlocked ─HostKeyReset/Accepted─► Idle(due now)
//!                                        └─AttemptDeadline─► Backoff (Abandoned)
//!  any ─Retired─► Retired ─Enrolled─► Jitter
//! ```
//!
//! Timers are not effects: after each step the runner asks
//! [`DeviceState::deadline`] and arms one timer; a `TimerFired` whose `due`
//! is not the current deadline is stale and changes nothing.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::effect::{AttemptRequest, Effect, TriggerReply, TrustActor};
use super::event::{
    After, AttemptId, DeviceId, Envelope, Event, FailureKind, Outcome, PhaseKind, RequestId,
    TenantId, TimerKind,
};
use super::policy::{PolicyError, RetryPolicy};
use super::time::Timestamp;

/// The version of the rules [`step`] decides by, and of the state it folds
/// into. A checkpoint records it and is only used by the same version: a
/// release whose rules decide differently for the same input (or whose
/// [`DeviceState`] holds other fields) bumps it, and the daemon then folds
/// from an older checkpoint or from the start instead of trusting states
/// the old rules produced. `tests/property` pins a fingerprint of the rules
/// next to this number, so a change of behaviour cannot forget the bump.
pub const RULES_VERSION: u32 = 1;

/// Where a device is in its backup lifecycle, with what that phase waits for.
///
/// Serialized only into checkpoints (the log stores inputs, never states).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case", deny_unknown_fields)]
pub enum Phase {
    /// Never enrolled: nothing is known about this device.
    Unenrolled,
    /// Just enrolled; the first backup is at `until`.
    Jitter { until: Timestamp },
    /// Last attempt settled; the next scheduled backup is at `next_due`.
    Idle { next_due: Timestamp },
    /// One attempt in flight; abandoned at `deadline` if no result comes.
    Running {
        attempt: AttemptId,
        started: Timestamp,
        deadline: Timestamp,
        /// The manual trigger that started this attempt, answered with its result.
        trigger: Option<RequestId>,
    },
    /// After a transient failure (or a skip during a failure streak): retry at `until`.
    Backoff { until: Timestamp, failures: u32 },
    /// The device refused our credentials; only `CredentialsUpdated` leaves.
    AuthBlocked { since: Timestamp },
    /// The device presented another host key than the trusted one; only
    /// `HostKeyReset` or `HostKeyAccepted` leaves.
    HostKeyBlocked {
        since: Timestamp,
        expected: Arc<str>,
        presented: Arc<str>,
    },
    /// The device left the inventory; only a new `Enrolled` leaves.
    Retired { since: Timestamp },
}

impl Phase {
    /// The attempt in flight, when running.
    pub fn running_attempt(&self) -> Option<AttemptId> {
        if let Phase::Running { attempt, .. } = self {
            Some(*attempt)
        } else {
            None
        }
    }

    pub fn kind(&self) -> PhaseKind {
        match self {
            Phase::Unenrolled => PhaseKind::Unenrolled,
            Phase::Jitter { .. } => PhaseKind::Jitter,
            Phase::Idle { .. } => PhaseKind::Idle,
            Phase::Running { .. } => PhaseKind::Running,
            Phase::Backoff { .. } => PhaseKind::Backoff,
            Phase::AuthBlocked { .. } => PhaseKind::AuthBlocked,
            Phase::HostKeyBlocked { .. } => PhaseKind::HostKeyBlocked,
            Phase::Retired { .. } => PhaseKind::Retired,
        }
    }

    /// Whether an operator must act before any new attempt.
    pub fn is_blocked(&self) -> bool {
        matches!(
            self,
            Phase::AuthBlocked { .. } | Phase::HostKeyBlocked { .. }
        )
    }
}

/// The last failure of a device, for status and audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastFailure {
    pub kind: FailureKind,
    pub message: String,
    pub at: Timestamp,
}

/// Everything the machine, the policy and the projections need about one device.
///
/// Serialized into checkpoints; a field added here changes what a
/// checkpoint holds, so it comes with a bump of [`RULES_VERSION`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceState {
    pub device: DeviceId,
    pub tenant: TenantId,
    pub phase: Phase,
    /// Sequence of the last envelope folded in (0: none).
    pub seq: u64,
    /// When the current phase was entered.
    pub since: Timestamp,
    pub host: Arc<str>,
    pub port: u16,
    /// The policy in force (from `Enrolled` / `PolicyChanged`, never from config).
    pub policy: Arc<RetryPolicy>,
    /// Consecutive failures since the last success.
    pub failures: u32,
    /// Attempts started so far; the next attempt's id is `attempts + 1`.
    pub attempts: AttemptId,
    pub last_attempt: Option<Timestamp>,
    pub last_success: Option<Timestamp>,
    /// SHA-256 of the last collected (normalized) export.
    pub last_hash: Option<Arc<str>>,
    /// Host-key fingerprint trusted on first use (or accepted by an operator).
    pub trusted_host_key: Option<Arc<str>>,
    pub last_failure: Option<Arc<LastFailure>>,
    /// RouterOS major version seen in the last export.
    pub routeros_major: Option<u32>,
    /// The inventory's tags (from `Enrolled` / `TagsChanged`): what
    /// per-tag policies and the operator's filters match. No decision
    /// reads them.
    pub tags: Arc<[String]>,
}

/// What a step did with its event, for audit and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// The event moved the machine (or updated its data).
    Applied,
    /// The event does not apply in this phase: recorded, changes nothing.
    Ignored(IgnoreReason),
    /// A command refused with an explicit `Reply` (a trigger while blocked…).
    Refused,
}

/// Why a recorded event changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    /// The timer's due time is not the current deadline.
    StaleTimer,
    /// A result for an attempt that is not the one running.
    NotCurrentAttempt,
    /// An unblocking command while the device is not blocked that way.
    NotBlocked,
    /// A command for a device that is not enrolled.
    NotEnrolled,
    /// A policy that cannot work; the old one stays in force.
    InvalidPolicy(PolicyError),
}

/// The result of one step: the next state and the work it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Transition {
    pub state: DeviceState,
    pub effects: Vec<Effect>,
    pub disposition: Disposition,
}

/// Fold one recorded envelope into a device's state.
///
/// `#[inline]` lets the caller's fold build the next state where it keeps
/// it, instead of copying the ~250-byte transition out of `step`.
#[inline]
pub fn step(state: &DeviceState, event: &Envelope) -> Transition {
    // Built in place (the state is cloned straight into the returned
    // transition) so the ~250-byte state is not copied again on the hot path.
    let mut transition = Transition {
        state: state.clone(),
        effects: Vec::new(),
        disposition: Disposition::Applied,
    };
    transition.disposition = transition.state.apply(event, &mut transition.effects);
    transition
}

/// The last policy and tenant seen while folding many devices: most devices
/// share them, so states folded one by one can share one allocation
/// instead of one per device (100 000 devices: tens of MB).
#[derive(Debug, Clone, Default)]
pub struct Shared {
    policy: Option<Arc<RetryPolicy>>,
    tenant: Option<TenantId>,
}

impl DeviceState {
    /// Point this state's policy and tenant at `shared`'s when they are
    /// equal, else make them the ones shared from now on.
    pub fn share(&mut self, shared: &mut Shared) {
        match &shared.policy {
            Some(p) if Arc::ptr_eq(p, &self.policy) => {}
            Some(p) if **p == *self.policy => self.policy = p.clone(),
            _ => shared.policy = Some(self.policy.clone()),
        }
        match &shared.tenant {
            Some(t) if t.same_allocation(&self.tenant) => {}
            Some(t) if *t == self.tenant => self.tenant = t.clone(),
            _ => shared.tenant = Some(self.tenant.clone()),
        }
    }

    /// The state of a device before its first event.
    pub fn new(device: DeviceId, tenant: TenantId) -> Self {
        DeviceState {
            device,
            tenant,
            phase: Phase::Unenrolled,
            seq: 0,
            since: Timestamp::ZERO,
            host: Arc::from(""),
            port: 22,
            policy: Arc::new(RetryPolicy::default()),
            failures: 0,
            attempts: 0,
            last_attempt: None,
            last_success: None,
            last_hash: None,
            trusted_host_key: None,
            last_failure: None,
            routeros_major: None,
            tags: Arc::from([]),
        }
    }

    /// The one timer this state needs, and why.
    pub fn deadline(&self) -> Option<(TimerKind, Timestamp)> {
        match &self.phase {
            Phase::Jitter { until } => Some((TimerKind::Jitter, *until)),
            Phase::Idle { next_due } => Some((TimerKind::Scheduled, *next_due)),
            Phase::Running { deadline, .. } => Some((TimerKind::AttemptDeadline, *deadline)),
            Phase::Backoff { until, .. } => Some((TimerKind::Backoff, *until)),
            Phase::Unenrolled
            | Phase::AuthBlocked { .. }
            | Phase::HostKeyBlocked { .. }
            | Phase::Retired { .. } => None,
        }
    }

    /// What `after` records for this state.
    pub fn after(&self) -> After {
        After {
            phase: self.phase.kind(),
            deadline: self.deadline(),
        }
    }

    /// Whether the device is in the inventory (not unenrolled, not retired).
    pub fn is_active(&self) -> bool {
        !matches!(self.phase, Phase::Unenrolled | Phase::Retired { .. })
    }

    fn set_tags(&mut self, tags: &[String]) {
        if *self.tags != *tags {
            self.tags = Arc::from(tags);
        }
    }

    fn enter(&mut self, phase: Phase, at: Timestamp) {
        self.phase = phase;
        self.since = at;
    }

    fn apply(&mut self, env: &Envelope, effects: &mut Vec<Effect>) -> Disposition {
        self.seq = env.seq;
        let at = env.at;
        match &env.event {
            Event::Enrolled {
                tenant,
                host,
                port,
                jitter_ms,
                policy,
                tags,
            } => {
                self.tenant = tenant.clone();
                self.set_tags(tags);
                if *self.host != **host {
                    self.host = Arc::from(host.as_str());
                }
                self.port = *port;
                if *self.policy != *policy && policy.validate().is_ok() {
                    self.policy = Arc::new(policy.clone());
                }
                if !self.is_active() {
                    self.failures = 0;
                    self.enter(
                        Phase::Jitter {
                            until: at.plus_millis(*jitter_ms),
                        },
                        at,
                    );
                }
                Disposition::Applied
            }
            Event::Retired => {
                if !self.is_active() {
                    return Disposition::Ignored(IgnoreReason::NotEnrolled);
                }
                if let Phase::Running {
                    trigger: Some(request),
                    ..
                } = &self.phase
                {
                    effects.push(Effect::Reply {
                        request: request.clone(),
                        reply: TriggerReply::NotFound,
                    });
                }
                self.enter(Phase::Retired { since: at }, at);
                Disposition::Applied
            }
            Event::TriggerRequested { request } => self.on_trigger(at, request, effects),
            Event::CredentialsUpdated => {
                if !matches!(self.phase, Phase::AuthBlocked { .. }) {
                    return Disposition::Ignored(IgnoreReason::NotBlocked);
                }
                self.failures = 0;
                self.enter(Phase::Idle { next_due: at }, at);
                Disposition::Applied
            }
            Event::HostKeyReset => {
                if !self.is_active() {
                    return Disposition::Ignored(IgnoreReason::NotEnrolled);
                }
                self.trusted_host_key = None;
                effects.push(Effect::ForgetHostKey);
                if matches!(self.phase, Phase::HostKeyBlocked { .. }) {
                    self.failures = 0;
                    self.enter(Phase::Idle { next_due: at }, at);
                }
                Disposition::Applied
            }
            Event::HostKeyAccepted { fingerprint } => {
                if !self.is_active() {
                    return Disposition::Ignored(IgnoreReason::NotEnrolled);
                }
                self.trusted_host_key = Some(Arc::from(fingerprint.as_str()));
                effects.push(Effect::TrustHostKey {
                    fingerprint: fingerprint.clone(),
                    actor: TrustActor::Operator,
                });
                if matches!(self.phase, Phase::HostKeyBlocked { .. }) {
                    self.failures = 0;
                    self.enter(Phase::Idle { next_due: at }, at);
                }
                Disposition::Applied
            }
            Event::TagsChanged { tags } => {
                self.set_tags(tags);
                Disposition::Applied
            }
            Event::PolicyChanged { policy } => match policy.validate() {
                Ok(()) => {
                    self.policy = Arc::new(policy.clone());
                    // A shorter interval brings the next backup forward
                    // (from when the last attempt settled); a longer one
                    // waits for the backup already due.
                    if let Phase::Idle { next_due } = &mut self.phase {
                        let sooner = self
                            .since
                            .plus_millis(policy.interval_secs.saturating_mul(1000));
                        *next_due = (*next_due).min(sooner);
                    }
                    Disposition::Applied
                }
                Err(e) => Disposition::Ignored(IgnoreReason::InvalidPolicy(e)),
            },
            Event::TimerFired { timer, due } => {
                if self.deadline() != Some((*timer, *due)) {
                    return Disposition::Ignored(IgnoreReason::StaleTimer);
                }
                match timer {
                    TimerKind::Jitter | TimerKind::Scheduled | TimerKind::Backoff => {
                        self.start_attempt(at, None, effects);
                    }
                    TimerKind::AttemptDeadline => {
                        let outcome = Outcome::Failed {
                            kind: FailureKind::Abandoned,
                            message: format!(
                                "no result within {} s: the attempt was abandoned (the runner stopped or lost it)",
                                self.policy.attempt_deadline_secs()
                            ),
                            learned: Default::default(),
                        };
                        self.finish(at, &outcome, effects);
                    }
                }
                Disposition::Applied
            }
            Event::AttemptFinished { attempt, outcome } => {
                if self.phase.running_attempt() == Some(*attempt) {
                    self.finish(at, outcome, effects);
                    Disposition::Applied
                } else {
                    Disposition::Ignored(IgnoreReason::NotCurrentAttempt)
                }
            }
        }
    }

    fn on_trigger(
        &mut self,
        at: Timestamp,
        request: &RequestId,
        effects: &mut Vec<Effect>,
    ) -> Disposition {
        let refusal = match &self.phase {
            Phase::Jitter { .. } | Phase::Idle { .. } | Phase::Backoff { .. } => {
                self.start_attempt(at, Some(request.clone()), effects);
                return Disposition::Applied;
            }
            Phase::Unenrolled | Phase::Retired { .. } => TriggerReply::NotFound,
            Phase::Running { attempt, .. } => TriggerReply::Conflict { attempt: *attempt },
            Phase::AuthBlocked { since } => TriggerReply::Blocked {
                phase: PhaseKind::AuthBlocked,
                reason: format!(
                    "the device refused our credentials (since {since} ms); fix them, then run `confkeep credentials-updated {}`",
                    self.device
                ),
            },
            Phase::HostKeyBlocked {
                since,
                expected,
                presented,
            } => TriggerReply::Blocked {
                phase: PhaseKind::HostKeyBlocked,
                reason: format!(
                    "the device presented host key {presented}, expected {expected} (since {since} ms); verify it, then run `confkeep host-key accept` or `reset`"
                ),
            },
        };
        effects.push(Effect::Reply {
            request: request.clone(),
            reply: refusal,
        });
        Disposition::Refused
    }

    fn start_attempt(
        &mut self,
        at: Timestamp,
        trigger: Option<RequestId>,
        effects: &mut Vec<Effect>,
    ) {
        self.attempts = self.attempts.saturating_add(1);
        self.last_attempt = Some(at);
        let attempt = self.attempts;
        self.enter(
            Phase::Running {
                attempt,
                started: at,
                deadline: at.plus_secs(self.policy.attempt_deadline_secs()),
                trigger,
            },
            at,
        );
        effects.push(Effect::Collect(AttemptRequest {
            device: self.device.clone(),
            tenant: self.tenant.clone(),
            attempt,
            host: self.host.to_string(),
            port: self.port,
            trusted_host_key: self.trusted_host_key.as_deref().map(str::to_owned),
            routeros_major: self.routeros_major,
            timeout_secs: self.policy.command_timeout_secs,
        }));
    }

    fn finish(&mut self, at: Timestamp, outcome: &Outcome, effects: &mut Vec<Effect>) {
        let trigger = if let Phase::Running { trigger, .. } = &mut self.phase {
            trigger.take()
        } else {
            None
        };
        let reply = match outcome {
            Outcome::Collected {
                sha256,
                host_key,
                routeros_version,
                ..
            } => {
                if let Some(trusted) = &self.trusted_host_key
                    && **trusted != **host_key
                {
                    // The collector checks the key during key exchange; this is
                    // the machine's own guard should a result ever disagree.
                    let kind = FailureKind::HostKeyMismatch {
                        presented: host_key.clone(),
                    };
                    let message =
                        format!("collected with host key {host_key}, but {trusted} is trusted");
                    self.block_on_host_key(at, trusted.clone(), Arc::from(host_key.as_str()));
                    self.record_failure(at, &kind, &message);
                    TriggerReply::Failed { kind, message }
                } else {
                    if self.trusted_host_key.is_none() {
                        self.trusted_host_key = Some(Arc::from(host_key.as_str()));
                        effects.push(Effect::TrustHostKey {
                            fingerprint: host_key.clone(),
                            actor: TrustActor::FirstUse,
                        });
                    } else {
                        effects.push(Effect::HostKeyVerified {
                            fingerprint: host_key.clone(),
                        });
                    }
                    self.failures = 0;
                    self.last_success = Some(at);
                    if self.last_hash.as_deref() != Some(sha256.as_str()) {
                        self.last_hash = Some(Arc::from(sha256.as_str()));
                    }
                    if let Some(major) = routeros_version.as_deref().and_then(major_version) {
                        self.routeros_major = Some(major);
                    }
                    self.enter(
                        Phase::Idle {
                            next_due: at.plus_secs(self.policy.interval_secs),
                        },
                        at,
                    );
                    TriggerReply::Success {
                        sha256: sha256.clone(),
                    }
                }
            }
            Outcome::Skipped { reason } => {
                let delay = match reason {
                    super::event::SkipReason::Offline => self.policy.offline_recheck_secs,
                    super::event::SkipReason::LockHeld => self.policy.lock_held_retry_secs,
                };
                let until = at.plus_secs(delay);
                let phase = if self.failures > 0 {
                    Phase::Backoff {
                        until,
                        failures: self.failures,
                    }
                } else {
                    Phase::Idle { next_due: until }
                };
                self.enter(phase, at);
                TriggerReply::Skipped { reason: *reason }
            }
            Outcome::Failed {
                kind,
                message,
                learned,
            } => {
                self.record_failure(at, kind, message);
                // What the failed attempt learned serves the next one
                // (RouterOS 6 asked with the right command first).
                if let Some(major) = learned.routeros_major {
                    self.routeros_major = Some(major);
                }
                // `is_transient` is the one rule for what backs off; of the
                // rest, a swapped key blocks on the key, a refusal on the
                // credentials.
                if kind.is_transient() {
                    let until = at.plus_secs(self.policy.backoff_delay_secs(self.failures));
                    self.enter(
                        Phase::Backoff {
                            until,
                            failures: self.failures,
                        },
                        at,
                    );
                } else if let FailureKind::HostKeyMismatch { presented } = kind {
                    let expected = self.trusted_host_key.clone().unwrap_or_else(|| "".into());
                    self.block_on_host_key(at, expected, Arc::from(presented.as_str()));
                } else {
                    self.enter(Phase::AuthBlocked { since: at }, at);
                }
                TriggerReply::Failed {
                    kind: kind.clone(),
                    message: message.clone(),
                }
            }
        };
        if let Some(request) = trigger {
            effects.push(Effect::Reply { request, reply });
        }
    }

    fn record_failure(&mut self, at: Timestamp, kind: &FailureKind, message: &str) {
        self.failures = self.failures.saturating_add(1);
        self.last_failure = Some(Arc::new(LastFailure {
            kind: kind.clone(),
            message: message.to_owned(),
            at,
        }));
    }

    fn block_on_host_key(&mut self, at: Timestamp, expected: Arc<str>, presented: Arc<str>) {
        self.enter(
            Phase::HostKeyBlocked {
                since: at,
                expected,
                presented,
            },
            at,
        );
    }
}

/// The major number of a RouterOS version string (`"7.15.3"` → 7).
pub fn major_version(version: &str) -> Option<u32> {
    version.split('.').next()?.trim().parse().ok()
}
