//! `confkeep diff`: differences between two snapshots of a device.

/// Differences between two snapshots of a device.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Not built yet: says so instead of pretending.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`confkeep diff` is not implemented yet")
}
