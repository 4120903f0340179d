//! `confkeep sim-devices`: serve a simulated RouterOS fleet over SSH.

/// Serve a simulated RouterOS fleet over SSH.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Not built yet: says so instead of pretending.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`confkeep sim-devices` is not implemented yet")
}
