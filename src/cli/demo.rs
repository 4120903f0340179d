//! `confkeep demo`: the first thing a newcomer runs, with no servers.
//!
//! It starts a simulated RouterOS fleet in-process (about 50 routers, a few
//! of them with faults: a wrong password, a swapped host key, a flaky link,
//! RouterOS 6 boxes), runs the real daemon on the embedded store in a
//! temporary directory with an accelerated policy (seconds instead of
//! hours), shows live progress, and after about 30 s prints the fleet
//! summary per phase, the audit trail of one blocked device, and where the
//! snapshots are.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;

use crate::cli::history::describe;
use crate::domain::{DeviceId, PhaseKind, RetryPolicy};
use crate::effects::config::{DaemonConfig, SshConfig};
use crate::effects::runner::{Clock, SystemClock};
use crate::testbed::sim_fleet::{Fault, FleetSpec, SimFleet, SimFleetHandle, inventory_toml};

/// A simulated fleet, the embedded log and live status: no servers needed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Routers in the simulated fleet.
    #[arg(long, default_value_t = 50)]
    pub devices: usize,
    /// Keep the data here instead of a new temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Seed of the simulated fleet.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// The accelerated policy: the same rules, in seconds instead of hours.
pub fn demo_policy() -> RetryPolicy {
    RetryPolicy {
        interval_secs: 12,
        jitter_min_secs: 1,
        jitter_max_secs: 6,
        backoff_secs: vec![2, 4, 8],
        command_timeout_secs: 5,
        deadline_grace_secs: 2,
        max_concurrent: 10,
        offline_recheck_secs: 5,
        lock_held_retry_secs: 3,
    }
}

/// The demo fleet: healthy RouterOS 7 routers plus a few with the faults an
/// operator meets first.
pub async fn start_demo_fleet(count: usize, seed: u64) -> anyhow::Result<SimFleetHandle> {
    let count = count.max(8);
    let mut spec = FleetSpec::generated(count, seed);
    spec.add_fault(1, Fault::WrongPassword);
    // Trusted on first use, then swapped (a replaced router, or an impostor).
    spec.add_fault(3, Fault::HostKeyReplaced { after: 1 });
    spec.add_fault(5, Fault::Flaky { ratio: 0.5 });
    spec.add_fault(6, Fault::RouterOs6);
    spec.add_fault(7, Fault::RouterOs6);
    spec.add_fault(9, Fault::SilentAfterAccept);
    Ok(SimFleet::start(spec).await?)
}

fn progress_line(summary: &crate::projections::status::FleetSummary, elapsed: u64) -> String {
    let get = |p: PhaseKind| summary.phases.get(p.name()).copied().unwrap_or(0);
    format!(
        "[{elapsed:>3} s] {} routers | jitter {:>2} idle {:>2} running {:>2} backoff {:>2} auth-blocked {} host-key-blocked {} | backups ok {} failed {} skipped {}",
        summary.devices,
        get(PhaseKind::Jitter),
        get(PhaseKind::Idle),
        get(PhaseKind::Running),
        get(PhaseKind::Backoff),
        get(PhaseKind::AuthBlocked),
        get(PhaseKind::HostKeyBlocked),
        summary.backups_succeeded,
        summary.backups_failed,
        summary.backups_skipped,
    )
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    let data_dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => tempfile::Builder::new()
            .prefix("confkeep-demo-")
            .tempdir()
            .context("creating a temporary directory")?
            .keep(),
    };
    crate::private_fs::create_dir(&data_dir)?;
    println!(
        "confkeep demo: {} simulated routers, data in {}",
        args.devices,
        data_dir.display()
    );

    let fleet = start_demo_fleet(args.devices, args.seed)
        .await
        .context("starting the simulated fleet")?;
    for d in fleet.devices().iter().filter(|d| !d.faults.is_empty()) {
        let faults: Vec<&str> = d.faults.iter().map(|f| f.name()).collect();
        println!("  {} (RouterOS {}): {}", d.id, d.version, faults.join(", "));
    }
    let inventory = data_dir.join("inventory.toml");
    write_private(&inventory, &inventory_toml(fleet.devices()))?;

    let config = DaemonConfig {
        node: Some("demo".into()),
        data_dir: data_dir.clone(),
        inventory,
        http_listen: Some("127.0.0.1:0".into()),
        shutdown_grace_secs: 5,
        inventory_poll_secs: 2,
        nats: None,
        redis: None,
        ssh: SshConfig::default(),
        policy: demo_policy(),
        ..DaemonConfig::default()
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let daemon = crate::daemon::start(config, clock.clone()).await?;
    if let Some(addr) = daemon.api_addr {
        println!("  web page: http://{addr}/");
        println!("  HTTP API on http://{addr} (try: confkeep status --api http://{addr})");
    }
    println!();

    let tty = std::io::stdout().is_terminal();
    let started = clock.now();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut last_print = 0;
    loop {
        tick.tick().await;
        let elapsed = clock.now().millis_since(started) / 1000;
        let summary = match daemon.status.lock() {
            Ok(b) => b.summary(clock.now()),
            Err(_) => break,
        };
        let line = progress_line(&summary, elapsed);
        if tty {
            print!("\r{line}");
            let _ = std::io::stdout().flush();
        } else if elapsed >= last_print + 5 {
            last_print = elapsed;
            println!("{line}");
        }
        if elapsed >= args.seconds {
            break;
        }
    }
    if tty {
        println!();
    }

    let status = daemon.status.clone();
    let log = daemon.log.clone();
    let snapshots = daemon.snapshots.clone();
    let report = daemon.shutdown().await?;
    fleet.shutdown().await;

    let (summary, rows) = {
        let board = status
            .lock()
            .map_err(|_| anyhow::anyhow!("status lock poisoned"))?;
        (board.summary(clock.now()), board.rows().collect::<Vec<_>>())
    };
    println!(
        "\nFleet summary ({} routers, {} events recorded):",
        summary.devices, report.recorded_events
    );
    for (phase, n) in summary.phases.iter().filter(|(_, n)| **n > 0) {
        println!("  {phase:<18} {n}");
    }
    println!(
        "  backups: {} succeeded, {} failed, {} skipped; stale devices: {}",
        summary.backups_succeeded, summary.backups_failed, summary.backups_skipped, summary.stale
    );

    let blocked = rows
        .iter()
        .find(|r| r.phase == PhaseKind::HostKeyBlocked)
        .or_else(|| rows.iter().find(|r| r.phase == PhaseKind::AuthBlocked));
    if let Some(row) = blocked {
        println!("\nAudit trail of {} ({}):", row.device, row.phase.name());
        if let Ok(device) = DeviceId::parse(&row.device) {
            let mut history = log.device_history(&device);
            while let Some(Ok(env)) = history.next().await {
                println!("  {}", describe(&env));
            }
        }
        if let Some(err) = &row.last_error {
            println!("  why: {}: {}", err.kind, err.message);
        }
    }
    if let Some(files) = snapshots {
        println!(
            "\nSnapshots (content-addressed, mode 0600): {}",
            files.root().display()
        );
        if let Some(row) = rows.iter().find(|r| r.last_hash.is_some()) {
            let dir = files.root().join(&row.tenant).join(&row.device);
            println!("  e.g. {}/latest", dir.display());
            println!(
                "  its last change: confkeep diff --data-dir {} {}",
                data_dir.display(),
                row.device
            );
        }
    }
    println!("Event log: {}", data_dir.join("events.redb").display());
    println!(
        "Read it without a daemon: confkeep status --data-dir {0} [--phase auth_blocked] · confkeep history DEVICE --data-dir {0}",
        data_dir.display()
    );
    println!(
        "Replay it: confkeep replay --verify --data-dir {}",
        data_dir.display()
    );
    Ok(0)
}
