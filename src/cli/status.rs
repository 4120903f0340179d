//! `confkeep status`: status of every device, or one, from the log.

/// Status of every device, or one, from the log.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Not built yet: says so instead of pretending.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`confkeep status` is not implemented yet")
}
