//! How fast the fleet simulation runs: each shipped scenario
//! (`simulations/*.toml`) at its full size, on one thread, in wall and CPU
//! time, with simulated events per second. The target: `steady.toml`
//! (10 000 devices × 30 days) in at most 10 s on one core.
//!
//! `cargo bench --bench sim` runs the full sizes; without `--bench` (as
//! `cargo test --benches` runs it) every scenario is scaled down to 100
//! devices and 2 days, a smoke test. Prints a table, then one JSON line
//! `{"bench":"sim","steady_s":…,"events_per_s":…,…}`. There is no baseline
//! to compare with: the figures are absolute.

use std::path::Path;

use confkeep::simulation::{self, Scenario, SimDuration};

const TARGET_SECS: f64 = 10.0;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("simulations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("simulations/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    println!(
        "{:<18} {:>8} {:>5} {:>10} {:>8} {:>8} {:>12} {:>12}",
        "scenario", "devices", "days", "events", "wall s", "CPU s", "events/s", "events/CPU-s"
    );
    let mut steady = None;
    for path in files {
        let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let scenario = if full {
            scenario
        } else {
            scenario.scaled(100, SimDuration::parse("2d").expect("a duration"))
        };
        let (report, speed) = simulation::run_timed(&scenario, scenario.seed, None);
        assert!(
            report.is_safe(),
            "{}: {:?}",
            report.scenario,
            report.violations
        );
        println!(
            "{:<18} {:>8} {:>5.0} {:>10} {:>8.2} {:>8} {:>12.0} {:>12}",
            report.scenario,
            report.devices,
            report.days,
            speed.events,
            speed.wall_secs,
            speed.cpu_secs.map_or("-".into(), |s| format!("{s:.2}")),
            speed.events_per_sec,
            speed
                .events_per_cpu_sec
                .map_or("-".into(), |r| format!("{r:.0}")),
        );
        if report.scenario == "steady" {
            steady = Some(speed);
        }
    }
    let steady = steady.expect("simulations/steady.toml is shipped");
    // On a shared machine the CPU time, not the wall time, says what one
    // core needs.
    let secs = steady.cpu_secs.unwrap_or(steady.wall_secs);
    let verdict = if secs <= TARGET_SECS {
        "met"
    } else {
        "NOT met"
    };
    println!(
        "steady: {secs:.2} s on one core (target <= {TARGET_SECS} s{}): {verdict}",
        if full { "" } else { ", full size only" }
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "sim",
            "full": full,
            "steady_s": (secs * 1000.0).round() / 1000.0,
            "steady_wall_s": (steady.wall_secs * 1000.0).round() / 1000.0,
            "events_per_s": steady.events_per_cpu_sec.unwrap_or(steady.events_per_sec).round(),
            "events": steady.events,
        })
    );
}
