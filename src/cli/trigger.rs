//! `confkeep trigger`: ask for a backup of one device now.

/// Ask for a backup of one device now.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Not built yet: says so instead of pretending.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`confkeep trigger` is not implemented yet")
}
