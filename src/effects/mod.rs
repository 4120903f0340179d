//! The world: everything that touches a network, a disk or a clock.
//!
//! The runner records an input, lets the pure machine decide, then acts on
//! the effects it returned.

pub mod attempt;
pub mod config;
pub mod credentials;
pub mod gate;
pub mod git_history;
pub mod inventory;
pub mod notify;
pub mod runner;
pub mod snapshot;
pub mod snapshot_files;
pub mod snapshot_objects;
pub mod snapshot_read;
pub mod ssh;
