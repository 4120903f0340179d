//! `confkeep simulate`: run a deterministic fleet simulation scenario.
//!
//! Prints the report as a table (or JSON with `--json`), optionally writes
//! the coverage chart (`--svg`), and with `--policy` runs the same scenario
//! and seed under a candidate policy and prints both side by side with the
//! differences. Exit code 0 when every safety invariant held, 2 when one
//! broke (each violation is printed with its seed and step), 1 on a bad
//! scenario or policy file.

use std::path::PathBuf;

use anyhow::Context;

use crate::simulation::{self, Comparison, Scenario};

/// Run a deterministic fleet simulation scenario.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario file (see simulations/README.md).
    pub scenario: PathBuf,
    /// Seed of the run (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// A candidate policy to compare with the scenario's (a file with a
    /// `[policy]` table, or the policy's keys at the top level).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write the coverage-over-time chart to this SVG file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    // The simulation is CPU-bound and synchronous: keep it off the runtime's
    // worker threads.
    tokio::task::spawn_blocking(move || run_blocking(args))
        .await
        .context("the simulation thread stopped")?
}

fn run_blocking(args: Args) -> anyhow::Result<i32> {
    let scenario = Scenario::load(&args.scenario)?;
    let candidate = match &args.policy {
        Some(path) => Some(simulation::load_policy(path)?),
        None => None,
    };
    let seed = args.seed.unwrap_or(scenario.seed);
    let current = simulation::run_timed(&scenario, seed, None);
    let safe;
    match candidate {
        None => {
            safe = current.is_safe();
            if let Some(path) = &args.svg {
                simulation::chart::write_svg(path, &[("current policy", &current)])?;
            }
            if args.json {
                println!("{}", serde_json::to_string_pretty(&current)?);
            } else {
                print!("{}", current.table());
            }
        }
        Some(policy) => {
            let candidate = simulation::run_timed(&scenario, seed, Some(&policy));
            safe = current.is_safe() && candidate.is_safe();
            if let Some(path) = &args.svg {
                simulation::chart::write_svg(
                    path,
                    &[
                        ("current policy", &current),
                        ("candidate policy", &candidate),
                    ],
                )?;
            }
            let comparison = Comparison::new(current, candidate);
            if args.json {
                println!("{}", serde_json::to_string_pretty(&comparison)?);
            } else {
                print!("{}", comparison.table());
            }
        }
    }
    if let Some(path) = &args.svg
        && !args.json
    {
        println!("coverage chart written to {}", path.display());
    }
    Ok(if safe { 0 } else { 2 })
}
