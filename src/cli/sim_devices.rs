//! `confkeep sim-devices`: serve a simulated RouterOS fleet over SSH.
//!
//! Device *k* (`sim-000k`, numbered from 1) listens on `PORT + k - 1` of the
//! `--listen` address; `--listen 127.0.0.1:0` gives every device an
//! ephemeral port instead (see `--print-inventory` for where they landed).
//! Devices are RouterOS 7 unless a `routeros6` fault says otherwise; their
//! configurations, passwords and host keys follow from `--seed`, so a restart
//! with the same seed serves the same fleet.
//!
//! `--faults` takes `KIND[:PARAM]=DEVICES` groups separated by `;`, DEVICES
//! being device numbers (as in the ids), ranges `N-M` or `all`:
//!
//! ```text
//! wrong-password=1,3;host-key-replaced:2=5;silence=7;flaky:0.3=8-10;oversized:20MiB=4
//! ```
//!
//! Kinds: `wrong-password`, `host-key-replaced[:AFTER_CONNECTIONS]` (default
//! 1), `silent-after-accept` (`silence`), `silent-mid-output[:BYTES]`,
//! `close-before-exit-status` (`no-exit-status`), `oversized[:BYTES]`
//! (`too-large`, default 20MiB), `slow[:BYTES_PER_SEC]`, `routeros6` (`v6`),
//! `refused`, `garbage[:BYTES]`, `flaky[:RATIO]`, `legacy-algorithms`
//! (`legacy`: SHA-1 key exchange and MACs, `ssh-rsa` host key only),
//! `endless-banner` (text lines before the SSH identification, forever).
//!
//! `--print-inventory` prints the daemon's inventory TOML on stdout once the
//! ports are bound (`confkeep sim-devices --print-inventory > fleet.toml &`),
//! then serves until interrupted.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use crate::testbed::sim_fleet::{FleetSpec, SimFleet, parse_fault_spec};

/// Serve a simulated RouterOS fleet over SSH.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of devices (`sim-0001` …).
    #[arg(long, default_value_t = 10)]
    pub count: usize,
    /// Address of the first device; device k listens on PORT + k - 1
    /// (port 0: every device on an ephemeral port).
    #[arg(long, default_value = "127.0.0.1:20001")]
    pub listen: SocketAddr,
    /// Faults per device, e.g. `wrong-password=1,3;silence=7;flaky:0.3=8-10`.
    #[arg(long, default_value = "")]
    pub faults: String,
    /// Seed of configurations, passwords, host keys and fault draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the inventory TOML for the fleet on stdout.
    #[arg(long)]
    pub print_inventory: bool,
    /// Export size of every device in bytes (default: 4–48 KiB, from the seed).
    #[arg(long)]
    pub export_bytes: Option<usize>,
    /// Delay before a rejected authentication is answered, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub auth_delay_ms: u64,
}

/// Serve until interrupted (Ctrl-C).
pub async fn run(args: Args) -> anyhow::Result<i32> {
    if args.count == 0 {
        anyhow::bail!("--count must be at least 1");
    }
    let faults = parse_fault_spec(&args.faults, args.count).context("--faults")?;
    let mut spec = FleetSpec::generated(args.count, args.seed);
    spec.host = args.listen.ip();
    spec.first_port = (args.listen.port() != 0).then_some(args.listen.port());
    spec.auth_rejection_delay = Duration::from_millis(args.auth_delay_ms);
    if let Some(bytes) = args.export_bytes {
        for d in &mut spec.devices {
            d.export_bytes = bytes;
        }
    }
    spec.apply_faults(&faults);
    let fleet = SimFleet::start(spec).await?;

    for d in fleet.devices() {
        let faults: Vec<&str> = d.faults.iter().map(|f| f.name()).collect();
        eprintln!(
            "{}  {}  RouterOS {:<8} {}  {}",
            d.id,
            d.addr,
            d.version,
            d.host_key_fingerprint,
            if faults.is_empty() {
                "ok".to_owned()
            } else {
                faults.join(",")
            }
        );
    }
    if args.print_inventory {
        print!("{}", fleet.inventory_toml());
        use std::io::Write;
        std::io::stdout()
            .flush()
            .context("writing the inventory to stdout")?;
    }
    tracing::info!(
        devices = fleet.devices().len(),
        "simulated RouterOS fleet serving; Ctrl-C stops it"
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    fleet.shutdown().await;
    Ok(0)
}
