//! `confkeep run --config confkeep.toml`: the daemon. Backs up every device
//! of the inventory on schedule until SIGTERM/SIGINT, then lets running
//! attempts finish within the grace and exits 0.
//!
//! Without the file but with the platform's `DATABASE_URL` set, the
//! configuration comes from the platform's environment (see
//! `DaemonConfig::platform`): a drop-in for its backup scheduler.
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
    let platform = if args.config.exists() {
        None
    } else {
        DaemonConfig::platform(|n| std::env::var(n).ok())?
    };
    let config = match platform {
        Some(c) => {
            tracing::info!(config = %args.config.display(), "no configuration file: running as the platform's collector from its environment");
            c
        }
        None => DaemonConfig::load(&args.config)?,
    };
    crate::daemon::describe_parts(&config);
    if config_holds_credentials(&args.config)
        && let Some(w) = crate::effects::inventory::permission_warning(&args.config)
    {
        tracing::warn!("{w}");
    }
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

/// Whether the config file itself carries a service URL with credentials
/// (`nats://user:password@...`): then it must not be readable by others.
fn config_holds_credentials(path: &std::path::Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| {
        text.split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .any(crate::redact::has_credentials)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_with_a_password_in_the_file_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let with = dir.path().join("with.toml");
        std::fs::write(&with, "[nats]\nurl = \"nats://backup:pw@10.0.0.1:4222\"\n").unwrap();
        let without = dir.path().join("without.toml");
        std::fs::write(&without, "[nats]\nurl = \"nats://10.0.0.1:4222\"\n").unwrap();
        assert!(config_holds_credentials(&with));
        assert!(!config_holds_credentials(&without));
    }
}
