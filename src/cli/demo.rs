//! `confkeep demo`: a simulated fleet, the embedded log and live status: no servers needed.

/// A simulated fleet, the embedded log and live status: no servers needed.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Not built yet: says so instead of pretending.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`confkeep demo` is not implemented yet")
}
