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
//! - [`history`]: a scenario's `[history]`: checkpoints, compaction and
//!   the archive, and the per-device outcome digest that shows they
//!   change nothing.
//! - [`report`]: the measures, as a table, JSON, and a policy comparison.
//! - [`chart`]: coverage over time as an SVG.
//!
//! The same scenario, policy and seed give a byte-identical event log (its
//! SHA-256 is in the report) and a byte-identical report; how fast the
//! harness ran ([`Speed`]) is measured apart by [`run_timed`].

pub mod chart;
pub mod harness;
pub mod history;
pub mod model;
pub mod report;
pub mod scenario;

pub use report::{Comparison, Report, Speed, Violation};
pub use scenario::{Scenario, ScenarioError, SimDuration, load_policy};

use crate::domain::RetryPolicy;

/// Run `scenario` from `seed` under `policy` (`None`: the scenario's own).
///
/// A scenario with `[history]` runs twice: with checkpoints and
/// compaction, then with `[history]` ignored (the log kept whole, every
/// restart folding all of it). The report is the first run's, compared
/// with the second ([`Report::compare_without_history`]): the same
/// outcomes, or a violation.
pub fn run(scenario: &Scenario, seed: u64, policy: Option<&RetryPolicy>) -> Report {
    let policy = policy.unwrap_or(&scenario.policy).clone();
    let mut report = harness::Harness::new(scenario, seed, policy.clone()).run();
    if scenario.history.is_some() {
        let mut plain = scenario.clone();
        plain.history = None;
        let without = harness::Harness::new(&plain, seed, policy).run();
        report.compare_without_history(&without);
    }
    report
}

/// [`run`], measuring the harness's own speed (wall-clock and CPU time).
/// The speed is not part of the report, which stays a function of the
/// scenario, policy and seed alone.
pub fn run_timed(scenario: &Scenario, seed: u64, policy: Option<&RetryPolicy>) -> (Report, Speed) {
    // Measures the harness, never feeds a decision: the run itself only
    // knows virtual time.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let cpu_before = thread_cpu_secs();
    let report = run(scenario, seed, policy);
    let wall = started.elapsed().as_secs_f64();
    let cpu = thread_cpu_secs()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    // Both runs of a `[history]` scenario were simulated.
    let simulated = report.events
        + report
            .history
            .as_ref()
            .and_then(|h| h.without.as_ref())
            .map_or(0, |w| w.events);
    let events = simulated as f64;
    let rate = |secs: f64| if secs > 0.0 { events / secs } else { 0.0 };
    let speed = Speed {
        events: simulated,
        wall_secs: wall,
        cpu_secs: cpu,
        events_per_sec: rate(wall),
        events_per_cpu_sec: cpu.map(rate),
    };
    (report, speed)
}

/// CPU time (user + system) of the calling thread: from
/// `/proc/thread-self/schedstat` (nanoseconds), else from
/// `/proc/thread-self/stat` (clock ticks of 10 ms); `None` where there is
/// neither.
fn thread_cpu_secs() -> Option<f64> {
    if let Some(ns) = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u64>().ok())
    {
        return Some(ns as f64 / 1e9);
    }
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The command name may hold spaces; the fields after it are plain.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name come stat(5)'s fields from 3 (state): utime is 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}
