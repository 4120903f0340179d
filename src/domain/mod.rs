//! The pure core: each device's backup lifecycle as a state machine.
//!
//! Nothing in here performs IO, reads a clock, draws outside randomness or
//! logs. Time arrives with each event ([`event::Envelope::at`]); the
//! enrolment jitter is drawn by the scheduler from a generator the driver
//! seeds ([`schedule::Jitter`]) and carried in the event.
//! So folding the same log always lands on the same states, in production,
//! in replay and in simulation alike. `domain` imports nothing from the rest
//! of the crate; `clippy.toml` bans the clock and thread RNG to keep it so.

// A new phase, event or failure kind must be decided everywhere it
// matters: no arm may catch it silently.
#![deny(clippy::wildcard_enum_match_arm)]

pub mod compaction;
pub mod effect;
pub mod event;
pub mod fleet;
pub mod health;
pub mod machine;
pub mod normalize;
pub mod ownership;
pub mod policy;
pub mod policy_rules;
pub mod retention;
pub mod schedule;
pub mod time;

pub use effect::{AttemptRequest, Effect, TriggerReply, TrustActor};
pub use event::{
    After, AttemptId, AttemptStage, DecodeError, DeviceId, Envelope, Event, FailureKind, Learned,
    Outcome, PhaseKind, RequestId, SCHEMA_VERSION, SkipReason, StoredApart, TenantId, TimerKind,
};
pub use machine::{
    DeviceState, Disposition, IgnoreReason, LastFailure, Phase, RULES_VERSION, Shared, Transition,
    step,
};
pub use policy::{PolicyError, RetryPolicy};
pub use policy_rules::{Policies, PolicyRule, RuleError};
pub use retention::{Collected, RetentionError, RetentionRule};
pub use time::Timestamp;
