//! `confkeep host-key`: accept or reset a device's trusted host key.

/// Accept or reset a device's trusted host key.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Not built yet: says so instead of pretending.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`confkeep host-key` is not implemented yet")
}
