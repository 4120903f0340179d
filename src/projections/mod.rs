//! Read models folded from the log: status, history, metrics.
//!
//! A projection folds `(envelope, state after)` pairs; the runner feeds it
//! at replay and live, the CLI feeds it from a replay of the log.

pub mod metrics;
pub mod status;
