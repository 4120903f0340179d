//! `confkeep status [DEVICE]`: the fleet summary and one line per device, or
//! one device in detail, from the running daemon's API.

use crate::api::StatusResponse;
use crate::cli::http::{ApiArgs, ApiClient, error_text};
use crate::domain::Timestamp;
use crate::effects::snapshot::rfc3339;
use crate::projections::status::DeviceStatus;

/// Status of every device, or one, from the log.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Show only this device, in detail.
    pub device: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn when(t: Option<Timestamp>) -> String {
    t.map(rfc3339).unwrap_or_else(|| "-".into())
}

/// One line per device, for humans.
pub fn table(devices: &[DeviceStatus]) -> String {
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
        out.push_str(&format!(
            "{:<20} {:<10} {:<17} {:>4} {:<25} {:<14} {}\n",
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

pub async fn run(args: Args) -> anyhow::Result<i32> {
    let path = match &args.device {
        Some(d) => format!("/v1/devices/{d}"),
        None => "/v1/status".into(),
    };
    let (code, body) = ApiClient::from_args(&args.api)?
        .call("GET", &path, None)
        .await?;
    if code != 200 {
        eprintln!("confkeep status: {}", error_text(&body));
        return Ok(if code == 404 { 3 } else { 1 });
    }
    if args.json {
        println!("{}", String::from_utf8_lossy(&body));
        return Ok(0);
    }
    if args.device.is_some() {
        let row: DeviceStatus = serde_json::from_slice(&body)?;
        println!("{}", serde_json::to_string_pretty(&row)?);
        return Ok(0);
    }
    let status: StatusResponse = serde_json::from_slice(&body)?;
    print!("{}", table(&status.devices));
    let phases: Vec<String> = status
        .summary
        .phases
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(p, n)| format!("{p}={n}"))
        .collect();
    println!(
        "\n{} devices: {}; stale (no success within two intervals): {}",
        status.summary.devices,
        phases.join(" "),
        status.summary.stale
    );
    print!("{}", health_lines(&status.summary.health));
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
