//! `confkeep simulate`: run a deterministic fleet simulation scenario.

/// Run a deterministic fleet simulation scenario.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Not built yet: says so instead of pretending.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`confkeep simulate` is not implemented yet")
}
