//! `confkeep run --config confkeep.toml`: the daemon. Backs up every device
//! of the inventory on schedule until SIGTERM/SIGINT, then lets running
//! attempts finish within the grace and exits 0.
//!
//! Embedded mode (no `[nats]`): the redb log and snapshot files under
//! `data_dir`. A bad configuration or inventory stops it before anything
//! starts, naming the file, line and field.

use std::path::PathBuf;

use anyhow::Context;

use crate::effects::config::DaemonConfig;

/// Run the daemon: back up the inventory's devices on schedule.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration file.
    #[arg(long, short, env = "CONFKEEP_CONFIG", default_value = "confkeep.toml")]
    pub config: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    let config = DaemonConfig::load(&args.config)?;
    crate::daemon::preflight(&config)?;
    let report = crate::daemon::run_until_signal(config)
        .await
        .context("the daemon stopped with an error")?;
    tracing::info!(
        recorded = report.recorded_events,
        attempts = report.attempts_started,
        left_running = report.attempts_left_running,
        "stopped"
    );
    Ok(0)
}
