//! What a read model implements to follow the log.
//!
//! The runner hands every recorded envelope, with the state it led to, to
//! its observers — at replay and live. Projections (status, history,
//! metrics) implement this trait, so the runner needs no projection and no
//! projection needs the runner.

use super::event::Envelope;
use super::machine::DeviceState;

/// Folds `(envelope, state after)` pairs.
pub trait Observer: Send {
    fn recorded(&mut self, envelope: &Envelope, state: &DeviceState);
}
