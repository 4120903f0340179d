//! `confkeep status [DEVICE]`: the fleet summary and one line per device
//! (filtered by phase, staleness, tenant, tag), or one device in detail —
//! from a running daemon or from the log itself (see [`super::source`]).

use crate::api::StatusResponse;
use crate::api::requests::phase;
use crate::cli::source::{Source, SourceArgs};
use crate::domain::{DeviceId, PhaseKind, Timestamp};
use crate::effects::snapshot::rfc3339;
use crate::projections::status::{DeviceFilter, DeviceStatus, StatusBoard};

/// Status of every device, or one.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Show only this device, in detail.
    pub device: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only devices in this phase (idle, backoff, auth_blocked, …).
    #[arg(long, value_parser = parse_phase)]
    pub phase: Option<PhaseKind>,
    /// Only devices without a success within two intervals.
    #[arg(long)]
    pub stale: bool,
    /// Only this tenant's devices.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only devices with this tag.
    #[arg(long)]
    pub tag: Option<String>,
    /// Only devices whose id or host contains this.
    #[arg(long, short = 'q')]
    pub search: Option<String>,
}

fn parse_phase(name: &str) -> Result<PhaseKind, String> {
    phase(name).ok_or_else(|| {
        let names: Vec<&str> = PhaseKind::ALL.iter().map(|p| p.name()).collect();
        format!("not a phase; one of {}", names.join(", "))
    })
}

fn when(t: Option<Timestamp>) -> String {
    t.map(rfc3339).unwrap_or_else(|| "-".into())
}

/// One line per device, for humans.
pub fn table(devices: &[DeviceStatus], now: Timestamp) -> String {
    let mut out = format!(
        "{:<20} {:<10} {:<17} {:>4} {:<25} {:<14} {}\n",
        "DEVICE", "TENANT", "PHASE", "FAIL", "LAST SUCCESS", "HASH", "LAST ERROR"
    );
    for d in devices {
        let hash: String = d
            .last_hash
            .as_deref()
            .unwrap_or("-")
            .chars()
            .take(12)
            .collect();
        let err = d
            .last_error
            .as_ref()
            .map(|e| format!("{}: {}", e.kind, e.message))
            .unwrap_or_default();
        let stale = if StatusBoard::is_stale(d, now) {
            " STALE"
        } else {
            ""
        };
        out.push_str(&format!(
            "{:<20} {:<10} {:<17} {:>4} {:<25} {:<14} {}{stale}\n",
            d.device,
            d.tenant,
            d.phase.name(),
            d.failures,
            when(d.last_success),
            hash,
            err.chars().take(80).collect::<String>()
        ));
    }
    out
}

/// The summary under the table.
pub fn summary_lines(status: &StatusResponse) -> String {
    let phases: Vec<String> = status
        .summary
        .phases
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(p, n)| format!("{p}={n}"))
        .collect();
    format!(
        "\n{} devices: {}; stale (no success within two intervals): {}\n{}",
        status.summary.devices,
        phases.join(" "),
        status.summary.stale,
        health_lines(&status.summary.health)
    )
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    let source = Source::open(&args.source).await?;
    if let Some(device) = &args.device {
        let device = DeviceId::parse(device)?;
        return match source.device(&device).await {
            Ok(row) => {
                println!("{}", serde_json::to_string_pretty(&row)?);
                Ok(0)
            }
            Err(e) => Ok(e.report("status")),
        };
    }
    let filter = DeviceFilter {
        tenant: args.tenant,
        tag: args.tag,
        phase: args.phase,
        stale: args.stale,
        search: args.search,
    };
    let status = match source.status(&filter).await {
        Ok(s) => s,
        Err(e) => return Ok(e.report("status")),
    };
    if args.json {
        println!("{}", serde_json::to_string(&status)?);
        return Ok(0);
    }
    print!("{}", table(&status.devices, status.now));
    if !filter.is_empty() {
        println!("({} of the fleet's devices match)", status.devices.len());
    }
    print!("{}", summary_lines(&status));
    Ok(0)
}

/// What stops the whole fleet, in words (empty when all is well).
pub fn health_lines(health: &crate::domain::health::Health) -> String {
    let mut out = String::new();
    if let Some(o) = &health.event_log {
        out.push_str(&format!(
            "EVENT LOG UNAVAILABLE since {}: {} (no attempts start until it is back)\n",
            rfc3339(o.since),
            o.error
        ));
    }
    if let Some(o) = &health.snapshots {
        out.push_str(&format!(
            "SNAPSHOTS CANNOT BE PUBLISHED since {}: {} (attempts paused)\n",
            rfc3339(o.since),
            o.error
        ));
    }
    out
}
