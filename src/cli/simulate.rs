//! `confkeep simulate`: run a deterministic fleet simulation scenario.
//!
//! Prints the report on stdout as a table (or JSON with `--json`), writes
//! the coverage-over-time chart as an SVG (`<scenario name>.svg` in the
//! current directory unless `--svg PATH` or `--no-svg`), and with
//! `--policy` runs the same scenario and seed under a candidate policy and
//! prints both side by side with the differences. A scenario with
//! `[history]` (checkpoints, compaction) is also run without it, and the
//! report gives both runs' event log and outcome digests (different
//! outcomes are a violation), the live log against the events and the
//! longest replay at a restart, with and without.
//!
//! stdout carries the report only, byte-identical for the same scenario,
//! policy and seed; what differs between runs (events simulated per second
//! of wall and CPU time) and where the chart went are printed on stderr.
//! The report is printed before the chart is written. Exit code 0 when
//! every safety invariant held, 2 when one broke (each violation is printed
//! with its seed and step), 1 on a bad scenario or policy file or a chart
//! that cannot be written.

use std::path::{Path, PathBuf};

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
    /// Write the coverage-over-time chart to this SVG file (default: the
    /// scenario's name with `.svg`, in the current directory).
    #[arg(long, conflicts_with = "no_svg")]
    pub svg: Option<PathBuf>,
    /// Do not write the chart.
    #[arg(long)]
    pub no_svg: bool,
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    // The simulation is CPU-bound and synchronous: keep it off the runtime's
    // worker threads.
    tokio::task::spawn_blocking(move || run_blocking(args))
        .await
        .context("the simulation thread stopped")?
}

/// Where the chart goes: `--svg`, or `<name>.svg` here (the name reduced
/// to characters safe in a file name), or nowhere with `--no-svg`.
fn chart_path(args: &Args, scenario: &Scenario) -> Option<PathBuf> {
    if args.no_svg {
        return None;
    }
    if let Some(path) = &args.svg {
        return Some(path.clone());
    }
    let stem: String = scenario
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = stem.trim_start_matches('.');
    Some(PathBuf::from(format!(
        "{}.svg",
        if stem.is_empty() { "simulation" } else { stem }
    )))
}

fn run_blocking(args: Args) -> anyhow::Result<i32> {
    let scenario = Scenario::load(&args.scenario)?;
    let candidate = match &args.policy {
        Some(path) => Some(simulation::load_policy(path)?),
        None => None,
    };
    let seed = args.seed.unwrap_or(scenario.seed);
    let svg = chart_path(&args, &scenario);
    let (current, speed) = simulation::run_timed(&scenario, seed, None);
    let safe;
    match candidate {
        None => {
            eprintln!("{}", speed.line());
            safe = current.is_safe();
            if args.json {
                println!("{}", serde_json::to_string_pretty(&current)?);
            } else {
                print!("{}", current.table());
            }
            if let Some(path) = &svg {
                simulation::chart::write_svg(path, &[("current policy", &current)])?;
                chart_written(path);
            }
        }
        Some(policy) => {
            eprintln!("current policy: {}", speed.line());
            let (candidate, speed) = simulation::run_timed(&scenario, seed, Some(&policy));
            eprintln!("candidate policy: {}", speed.line());
            safe = current.is_safe() && candidate.is_safe();
            let comparison = Comparison::new(current, candidate);
            if args.json {
                println!("{}", serde_json::to_string_pretty(&comparison)?);
            } else {
                print!("{}", comparison.table());
            }
            if let Some(path) = &svg {
                simulation::chart::write_svg(
                    path,
                    &[
                        ("current policy", &comparison.current),
                        ("candidate policy", &comparison.candidate),
                    ],
                )?;
                chart_written(path);
            }
        }
    }
    Ok(if safe { 0 } else { 2 })
}

fn chart_written(path: &Path) {
    eprintln!("coverage chart written to {}", path.display());
}
