//! `confkeep replay`: fold the whole log through the machine; --verify compares decisions.

/// Fold the whole log through the machine; --verify compares decisions.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Not built yet: says so instead of pretending.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`confkeep replay` is not implemented yet")
}
