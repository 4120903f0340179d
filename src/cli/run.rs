//! `confkeep run`: run the daemon: back up the inventory's devices on schedule.

/// Run the daemon: back up the inventory's devices on schedule.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Not built yet: says so instead of pretending.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`confkeep run` is not implemented yet")
}
