//! `confkeep diff DEVICE [OLD] [NEW]`: a unified diff between two of a
//! device's configs, named by hash or prefix; without them, its last
//! change. The snapshot list comes from the log (so only what the device
//! really collected can be named), the texts from where they were
//! published — through a running daemon, or read directly with
//! `--data-dir` / `--nats-url`. Exit 0 when the two agree, 1 when they
//! differ (as `diff` does), 3 when a device or snapshot is not found.

use crate::cli::source::{Source, SourceArgs};
use crate::domain::DeviceId;

/// Differences between two snapshots of a device.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: SourceArgs,
    pub device: String,
    /// Older snapshot (hash or prefix).
    pub old: Option<String>,
    /// Newer snapshot (hash or prefix; default: the latest).
    pub new: Option<String>,
    /// Print the diff and its counts as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    let device = DeviceId::parse(&args.device)?;
    let source = Source::open(&args.source).await?;
    let diff = match source
        .diff(&device, args.old.as_deref(), args.new.as_deref())
        .await
    {
        Ok(d) => d,
        Err(e) => return Ok(e.report("diff")),
    };
    if args.json {
        println!("{}", serde_json::to_string(&diff)?);
    } else if diff.old == diff.new {
        println!(
            "{} has one config so far ({}): nothing to compare",
            device, diff.new
        );
    } else {
        print!("{}", diff.diff);
        eprintln!("{}: +{} -{} lines", device, diff.added, diff.removed);
    }
    Ok(if diff.diff.is_empty() { 0 } else { 1 })
}
