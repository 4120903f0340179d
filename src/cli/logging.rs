//! Logging set-up: human-readable on a terminal, JSON lines otherwise.
//!
//! Level from `RUST_LOG` (default `info`). Logs go to stderr so that stdout
//! stays for command output (`normalize`, `collect`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Install the global subscriber once; later calls are no-ops. `default`
/// is the level when `RUST_LOG` is not set (`warn` for the demo, whose
/// terminal belongs to its live status).
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::io::stderr().is_terminal() {
        builder.try_init()
    } else {
        builder.json().try_init()
    };
}
