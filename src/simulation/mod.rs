//! Deterministic fleet simulations in virtual time.
//!
//! "What happens to my fleet if…", answered exactly and reproducibly, by the
//! code that runs in production: the harness drives the real
//! [`step`](crate::domain::step) through the real
//! [`Fleet`](crate::domain::fleet::Fleet) (the runner's timer heap,
//! concurrency slots and record → decide → act order), with a virtual clock
//! and one seed, against simulated devices with fault models.
//!
//! - [`scenario`]: the scenario files (`simulations/*.toml`), strictly parsed.
//! - [`model`]: simulated devices and how they answer an attempt.
//! - [`harness`]: the driver loop and the safety invariants.
//! - [`report`]: the measures, as a table, JSON, and a policy comparison.
//! - [`chart`]: coverage over time as an SVG.
//!
//! The same scenario, policy and seed give a byte-identical event log (its
//! SHA-256 is in the report) and an identical report.

pub mod chart;
pub mod harness;
pub mod model;
pub mod report;
pub mod scenario;

pub use report::{Comparison, Report, Violation};
pub use scenario::{Scenario, ScenarioError, SimDuration, load_policy};

use crate::domain::RetryPolicy;

/// Run `scenario` from `seed` under `policy` (`None`: the scenario's own).
/// `speed` in the report is left at zero (see [`run_timed`]).
pub fn run(scenario: &Scenario, seed: u64, policy: Option<&RetryPolicy>) -> Report {
    let policy = policy.unwrap_or(&scenario.policy).clone();
    harness::Harness::new(scenario, seed, policy).run()
}

/// [`run`], measuring the harness's own speed in wall-clock time.
pub fn run_timed(scenario: &Scenario, seed: u64, policy: Option<&RetryPolicy>) -> Report {
    // Measures the harness, never feeds a decision: the run itself only
    // knows virtual time.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let mut report = run(scenario, seed, policy);
    let wall = started.elapsed().as_secs_f64();
    report.speed = report::Speed {
        wall_secs: wall,
        events_per_sec: if wall > 0.0 {
            report.events as f64 / wall
        } else {
            0.0
        },
    };
    report
}
