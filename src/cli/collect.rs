//! `confkeep collect`: one backup of one router to stdout, to check it can be reached.

/// One backup of one router to stdout, to check it can be reached.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Not built yet: says so instead of pretending.
pub async fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`confkeep collect` is not implemented yet")
}
