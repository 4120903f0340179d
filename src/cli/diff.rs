//! `confkeep diff DEVICE [OLD] [NEW]`: a unified diff between two snapshots
//! of a device (embedded mode's snapshot files). Without hashes: the latest
//! snapshot against the one before it (by file time). Hash prefixes work.

use std::path::PathBuf;

use anyhow::{Context, bail};

/// Differences between two snapshots of a device.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The daemon's data directory.
    #[arg(long, env = "CONFKEEP_DATA_DIR", default_value = "confkeep-data")]
    pub data_dir: PathBuf,
    /// The device's tenant.
    #[arg(long, default_value = "default")]
    pub tenant: String,
    pub device: String,
    /// Older snapshot (hash or prefix).
    pub old: Option<String>,
    /// Newer snapshot (hash or prefix).
    pub new: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    let dir = args
        .data_dir
        .join("snapshots")
        .join(&args.tenant)
        .join(&args.device);
    let mut snaps: Vec<(std::time::SystemTime, String)> = Vec::new();
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("no snapshots in {}", dir.display()))?
    {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(hash) = name.strip_suffix(".rsc") {
            let modified = entry.metadata()?.modified()?;
            snaps.push((modified, hash.to_owned()));
        }
    }
    snaps.sort();
    let find = |prefix: &str| -> anyhow::Result<String> {
        let hits: Vec<&String> = snaps
            .iter()
            .map(|(_, h)| h)
            .filter(|h| h.starts_with(prefix))
            .collect();
        match hits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => bail!("no snapshot {prefix} of {}", args.device),
            _ => bail!(
                "{prefix} matches {} snapshots; give more of the hash",
                hits.len()
            ),
        }
    };
    let (old, new) = match (&args.old, &args.new) {
        (Some(o), Some(n)) => (find(o)?, find(n)?),
        (Some(o), None) => (
            find(o)?,
            snaps.last().map(|(_, h)| h.clone()).unwrap_or_default(),
        ),
        _ => {
            if snaps.len() < 2 {
                println!(
                    "{} has {} snapshot(s): nothing to compare",
                    args.device,
                    snaps.len()
                );
                return Ok(0);
            }
            (
                snaps[snaps.len() - 2].1.clone(),
                snaps[snaps.len() - 1].1.clone(),
            )
        }
    };
    let read = |h: &str| {
        std::fs::read_to_string(dir.join(format!("{h}.rsc")))
            .with_context(|| format!("reading snapshot {h}"))
    };
    let (a, b) = (read(&old)?, read(&new)?);
    let diff = similar::TextDiff::from_lines(&a, &b);
    print!(
        "{}",
        diff.unified_diff().context_radius(3).header(&old, &new)
    );
    Ok(if a == b { 0 } else { 1 })
}
