//! `confkeep gc`: retention of snapshot files — at most `--keep` distinct
//! snapshots per device and/or none last collected more than `--keep-days`
//! ago, never a device's latest (so never its only one). `--dry-run` says
//! what would go. Against a running daemon (`--api`, its `[retention]`
//! unless the flags say otherwise) or a stopped one's `--data-dir`.

use crate::cli::source::{Source, SourceArgs};
use crate::effects::snapshot::rfc3339;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Distinct snapshots kept per device (the latest always).
    #[arg(long)]
    pub keep: Option<usize>,
    /// Remove snapshots last collected longer ago than this many days.
    #[arg(long)]
    pub keep_days: Option<u64>,
    /// Only say what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    let source = Source::open(&args.source).await?;
    let report = match source.gc(args.keep, args.keep_days, args.dry_run).await {
        Ok(r) => r,
        Err(e) => return Ok(e.report("gc")),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(0);
    }
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for r in &report.removed {
        println!(
            "{verb} {}/{} {} (last collected {}, {} bytes)",
            r.tenant,
            r.device,
            &r.sha256[..r.sha256.len().min(12)],
            rfc3339(r.last_collected),
            r.bytes
        );
    }
    println!(
        "{} devices: {verb} {} snapshots ({} bytes), kept {} ({} not in the log)",
        report.devices,
        report.removed.len(),
        report.removed_bytes,
        report.kept,
        report.not_in_log
    );
    for p in &report.problems {
        eprintln!("confkeep gc: {p}");
    }
    Ok(if report.problems.is_empty() { 0 } else { 1 })
}
