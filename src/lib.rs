//! confkeep: auditable, event-sourced configuration backups for MikroTik
//! RouterOS fleets.
//!
//! A map of the crate:
//!
//! - [`domain`]: the pure core. Each device's backup lifecycle is a state
//!   machine (`step`) folded from recorded events; RouterOS export
//!   normalization and hashing. No IO, no clock, no randomness.
//! - [`store`]: the event log (JetStream, embedded redb, in-memory) behind one
//!   trait, [`store::EventLog`].
//! - [`effects`]: the world. The runner (record, then decide, then act), SSH
//!   collection with russh, snapshot publishing, the Redis gate, the
//!   inventory.
//! - [`testbed`]: the simulated RouterOS fleet and its export generator,
//!   used by the demo, `sim-devices`, tests and benchmarks.
//! - [`projections`]: status, history and metrics folded from the log.
//! - [`simulation`]: deterministic whole-fleet simulations in virtual time,
//!   driving the same `step` and the same scheduling as production.
//! - [`cli`]: the subcommands of the `confkeep` binary.
//! - [`api`]: the HTTP API: routes, who may call them (token), TLS and limits.
//! - [`web`]: the operator's web page (fleet and device pages), served with
//!   the API.
//! - [`daemon`]: the daemon assembled from the rooms above.
//! - [`redact`]: credentials kept out of messages.
//! - [`private_fs`]: the data directory 0700, its files 0600.

pub mod api;
pub mod cli;
pub mod daemon;
pub mod domain;
pub mod effects;
pub mod private_fs;
pub mod projections;
pub mod redact;
pub mod simulation;
pub mod store;
pub mod testbed;
pub mod web;
