//! Deterministic fleet simulations: determinism, the scenario files, and a
//! short version of each shipped scenario asserting its properties.
//!
//! The short versions keep the shape of `simulations/*.toml` with few
//! devices and few days, so the whole file runs in seconds in debug.

use std::path::Path;
use std::process::Command;

use confkeep::simulation::{self, Report, Scenario};

fn scenario(text: &str) -> Scenario {
    Scenario::parse(Path::new("inline.toml"), text).expect("test scenario parses")
}

fn without_speed(r: &Report) -> String {
    let mut r = r.clone();
    r.speed = Default::default();
    serde_json::to_string(&r).expect("report serializes")
}

fn assert_safe(r: &Report) {
    assert_eq!(
        r.invariant_violations,
        0,
        "violations:\n{}",
        r.violations
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(r.auth_attempts_after_block, 0);
    assert!(r.peak_concurrent <= r.max_concurrent, "{r:?}");
}

const STEADY: &str = r#"
devices = 200
duration = "3d"
[policy]
max_concurrent = 2
[[group]]
name = "flaky"
share = 0.05
[group.failures]
timeout = 0.1
unreachable = 0.1
"#;

#[test]
fn same_scenario_and_seed_give_the_same_log_and_report() {
    let s = scenario(STEADY);
    let a = simulation::run(&s, 42, None);
    let b = simulation::run(&s, 42, None);
    assert_eq!(a.event_log_sha256, b.event_log_sha256);
    assert_eq!(without_speed(&a), without_speed(&b));
    let c = simulation::run(&s, 43, None);
    assert_ne!(a.event_log_sha256, c.event_log_sha256, "the seed matters");
}

#[test]
fn a_restarting_run_is_deterministic_too() {
    let s = scenario(&format!(
        "{STEADY}\n[restarts]\nevery = \"5h\"\ndowntime = \"20s\"\n[triggers]\nper_day = 40\n"
    ));
    let a = simulation::run(&s, 7, None);
    let b = simulation::run(&s, 7, None);
    assert_eq!(a.event_log_sha256, b.event_log_sha256);
    assert_eq!(without_speed(&a), without_speed(&b));
}

#[test]
fn every_shipped_scenario_parses_and_is_documented() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("simulations");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("simulations/ exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).expect("readable");
            assert!(
                text.starts_with('#'),
                "{} must open with its documentation",
                path.display()
            );
            let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            names.push(s.name);
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "flaky-wan",
            "hardware-swap",
            "password-rotation",
            "restart-storm",
            "site-outage",
            "steady"
        ]
    );
}

#[test]
fn steady_keeps_coverage_and_the_slot_limit() {
    let r = simulation::run(&scenario(STEADY), 1, None);
    assert_safe(&r);
    assert!(r.coverage_min >= 0.99, "coverage {}", r.coverage_min);
    assert_eq!(r.peak_concurrent, 2, "the slots are used, never exceeded");
    // One backup per 6 h interval, plus a few retries.
    assert!(
        (4.0..4.3).contains(&r.ssh_attempts_per_device_day),
        "{}",
        r.ssh_attempts_per_device_day
    );
    assert_eq!(r.unrecovered, 0);
    assert!(r.recoveries > 0);
}

#[test]
fn flaky_wan_retries_on_the_ladder_and_recovers_within_it() {
    let r = simulation::run(
        &scenario(
            r#"
devices = 150
duration = "4d"
[policy]
backoff_secs = [300, 900, 3600]
command_timeout_secs = 60
max_concurrent = 5
[[group]]
name = "flaky wan"
share = 0.3
[group.failures]
timeout = 0.3333
"#,
        ),
        1,
        None,
    );
    // `retry_before_ladder` is among the invariants: no retry came early.
    assert_safe(&r);
    assert!(r.failures_by_kind.get("timeout").copied().unwrap_or(0) > 50);
    assert!(r.coverage_min >= 0.99, "coverage {}", r.coverage_min);
    // Half the streaks end on the first rung: a 5 min wait plus the
    // timed-out attempt and the next one.
    assert!(
        r.recover_p50_secs <= 300.0 + 60.0 + 60.0,
        "{}",
        r.recover_p50_secs
    );
    // 95 % within the three rungs (5 + 15 + 60 min) plus their attempts.
    assert!(
        r.recover_p95_secs <= 300.0 + 900.0 + 3600.0 + 4.0 * 60.0,
        "{}",
        r.recover_p95_secs
    );
}

#[test]
fn password_rotation_never_retries_a_refused_login() {
    let r = simulation::run(
        &scenario(
            r#"
devices = 120
duration = "3d"
[policy]
max_concurrent = 4
[[group]]
name = "rotated"
share = 0.25
[[group.password_rotation]]
at = "1d"
spread = "6h"
fixed_after = "10h"
"#,
        ),
        1,
        None,
    );
    assert_safe(&r);
    let refused = r.failures_by_kind.get("auth_failed").copied().unwrap_or(0);
    assert!(refused > 0, "the rotation was seen");
    assert!(
        refused <= 30,
        "one refused login per rotated device at most"
    );
    assert_eq!(r.phases_at_end.get("auth_blocked"), Some(&0));
    assert_eq!(r.unrecovered, 0);
    // After `credentials-updated` the backup runs at once.
    assert!(r.recover_max_secs <= 60.0, "{}", r.recover_max_secs);
}

#[test]
fn hardware_swap_blocks_until_the_operator_resolves_the_key() {
    let r = simulation::run(
        &scenario(
            r#"
devices = 120
duration = "4d"
[policy]
max_concurrent = 4
[[group]]
name = "reset"
share = 0.1
[[group.hardware_swap]]
at = "1d"
spread = "1d"
resolved_after = "12h"
[[group]]
name = "accept"
share = 0.1
[[group.hardware_swap]]
at = "1d"
spread = "1d"
resolved_after = "12h"
resolve = "accept"
"#,
        ),
        1,
        None,
    );
    assert_safe(&r);
    let mismatches = r
        .failures_by_kind
        .get("host_key_mismatch")
        .copied()
        .unwrap_or(0);
    assert!(
        (10..=24).contains(&mismatches),
        "one mismatch per swapped device that was tried: {mismatches}"
    );
    assert_eq!(r.phases_at_end.get("host_key_blocked"), Some(&0));
    assert_eq!(r.unrecovered, 0);
    assert!(r.recover_max_secs <= 60.0, "{}", r.recover_max_secs);
}

#[test]
fn site_outage_recovers_within_one_recheck() {
    let r = simulation::run(
        &scenario(
            r#"
devices = 200
duration = "2d"
[policy]
offline_recheck_secs = 900
max_concurrent = 5
[[group]]
name = "dark site"
share = 0.3
[[group.offline]]
start = "20h"
length = "12h"
"#,
        ),
        1,
        None,
    );
    assert_safe(&r);
    assert!(r.skipped_offline > 0);
    // Skips are not SSH attempts.
    assert_eq!(r.attempts, r.ssh_attempts + r.skipped_offline);
    // 60 devices come back at once: one recheck period plus the queue.
    assert!(
        r.recover_max_secs <= 900.0 + 120.0,
        "{}",
        r.recover_max_secs
    );
    assert!(
        r.coverage_min < 1.0 && r.coverage_min > 0.65,
        "{}",
        r.coverage_min
    );
    let last = r.coverage_series.last().expect("samples").1;
    assert_eq!(last, 1.0, "everyone is fresh again at the end");
    assert_eq!(r.unrecovered, 0);
}

#[test]
fn restart_storm_has_no_burst_and_answers_every_trigger() {
    let base = r#"
devices = 150
duration = "3d"
[policy]
max_concurrent = 4
[triggers]
per_day = 60
"#;
    let calm = simulation::run(&scenario(base), 3, None);
    let storm = simulation::run(
        &scenario(&format!(
            "{base}\n[restarts]\nfirst = \"150m\"\nevery = \"6h\"\ndowntime = \"30s\"\n"
        )),
        3,
        None,
    );
    // The invariants include: deadlines never earlier after a restart,
    // replay agrees with what was recorded, triggers answered once.
    assert_safe(&calm);
    assert_safe(&storm);
    assert_eq!(storm.restarts, 12);
    assert!(storm.triggers_answered > 150, "{}", storm.triggers_answered);
    let ratio = storm.ssh_attempts_per_device_day / calm.ssh_attempts_per_device_day;
    assert!(
        (0.97..1.05).contains(&ratio),
        "restarts must not add attempts: {ratio}"
    );
    assert!(storm.coverage_min >= 0.99, "{}", storm.coverage_min);
}

#[test]
fn a_candidate_policy_is_compared_on_the_same_world() {
    let s = scenario(STEADY);
    let mut candidate = s.policy.clone();
    candidate.interval_secs = 3 * 3600;
    let a = simulation::run(&s, 5, None);
    let b = simulation::run(&s, 5, Some(&candidate));
    let cmp = simulation::Comparison::new(a.clone(), b.clone());
    assert!(cmp.policy_differences.contains_key("interval_secs"));
    assert!(b.ssh_attempts_per_device_day > 1.8 * a.ssh_attempts_per_device_day);
    assert!(cmp.differences.contains_key("SSH attempts per device-day"));
    assert!(cmp.table().contains("difference"));
}

fn confkeep(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_confkeep"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn the_cli_prints_json_and_writes_the_chart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("tiny.toml");
    std::fs::write(&file, "devices = 30\nduration = \"1d\"\n").expect("write");
    let policy = dir.path().join("candidate.toml");
    std::fs::write(&policy, "[policy]\ninterval_secs = 7200\n").expect("write");
    let svg = dir.path().join("coverage.svg");
    let out = confkeep(&[
        "simulate",
        file.to_str().expect("utf-8"),
        "--seed",
        "9",
        "--json",
        "--svg",
        svg.to_str().expect("utf-8"),
        "--policy",
        policy.to_str().expect("utf-8"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for key in [
        "invariant_violations",
        "auth_attempts_after_block",
        "peak_concurrent",
        "coverage_min",
        "coverage_mean",
        "events_per_device_day",
        "recover_p95_secs",
        "ssh_attempts_per_device_day",
    ] {
        assert!(json["current"].get(key).is_some(), "missing {key}");
        assert!(json["candidate"].get(key).is_some(), "missing {key}");
    }
    assert_eq!(json["current"]["seed"], 9);
    assert_eq!(
        json["policy_differences"]["interval_secs"],
        serde_json::json!([21600, 7200])
    );
    let chart = std::fs::read_to_string(&svg).expect("chart written");
    assert!(chart.contains("<svg") && chart.contains("candidate policy"));
}

#[test]
fn a_bad_scenario_names_the_file_the_key_and_what_is_expected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (
            "devices = 3\nduration = \"1d\"\n[[group]]\nname = \"g\"\nshare = 0.5\n[group.failures]\ntimeout = 1.5\n",
            "group[0].failures.timeout",
            "between 0 and 1",
        ),
        (
            "devices = 3\nduration = \"1d\"\n[restarts]\nevery = \"-6h\"\n",
            "restarts.every",
            "negative duration",
        ),
        (
            "duration = \"1d\"\n",
            "top level",
            "missing field `devices`",
        ),
        (
            "devices = 3\nduration = \"1d\"\nflakyness = 2\n",
            "flakyness",
            "unknown field",
        ),
    ];
    for (i, (text, key, expected)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&file, text).expect("write");
        let out = confkeep(&["simulate", file.to_str().expect("utf-8")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(&format!("bad{i}.toml")), "{stderr}");
        assert!(stderr.contains(key), "{key}: {stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
