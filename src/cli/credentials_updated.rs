//! `confkeep credentials-updated`: tell confkeep a blocked device's credentials were fixed.

/// Tell confkeep a blocked device's credentials were fixed.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Not built yet: says so instead of pretending.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`confkeep credentials-updated` is not implemented yet")
}
