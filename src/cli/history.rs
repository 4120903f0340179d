//! `confkeep history`: the audit trail of one device.

/// The audit trail of one device.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Not built yet: says so instead of pretending.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`confkeep history` is not implemented yet")
}
