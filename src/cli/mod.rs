//! The subcommands of the `confkeep` binary, one file each.
//!
//! Each file defines its clap `Args` and an async `run` returning the process
//! exit code. `main.rs` only parses and dispatches.

pub mod collect;
pub mod credentials_updated;
pub mod demo;
pub mod diff;
pub mod gc;
pub mod history;
pub mod host_key;
pub mod http;
pub mod logging;
pub mod normalize;
pub mod platform_db;
pub mod replay;
pub mod run;
pub mod sim_devices;
pub mod simulate;
pub mod source;
pub mod status;
pub mod trigger;
