//! Deterministic fleet simulations: determinism (library and CLI), the
//! scenario and policy files, and a short version of each shipped scenario
//! asserting its properties.
//!
//! The short versions are the shipped files themselves: each is loaded from
//! `simulations/X.toml` by the scenario loader and scaled down with
//! [`Scenario::scaled`] (fewer devices, fewer days, the same shape per
//! device), so what is tested is what ships. The bounds asserted are read
//! from the loaded file (its policy, its groups), not restated. The whole
//! file runs in seconds in debug.

use std::path::{Path, PathBuf};
use std::process::Command;

use confkeep::domain::RetryPolicy;
use confkeep::simulation::{self, Report, Scenario, SimDuration};

/// The shipped scenario file `name`.
fn shipped_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("simulations")
        .join(format!("{name}.toml"))
}

/// The shipped scenario `name`, loaded as `confkeep simulate` loads it and
/// scaled to `devices` over `duration`.
fn shipped(name: &str, devices: u32, duration: &str) -> Scenario {
    let path = shipped_path(name);
    let full = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let duration = SimDuration::parse(duration).expect("a test duration");
    assert!(duration <= full.duration, "a short version is shorter");
    let short = full.scaled(devices, duration);
    short
        .validate(&path)
        .unwrap_or_else(|e| panic!("scaled: {e}"));
    short
}

fn json(r: &Report) -> String {
    serde_json::to_string(r).expect("report serializes")
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

/// Devices a group of `share` holds in a fleet of `devices`.
fn members(share: f64, devices: u32) -> u64 {
    (share * f64::from(devices)).round() as u64
}

fn failures(r: &Report, kind: &str) -> u64 {
    r.failures_by_kind.get(kind).copied().unwrap_or(0)
}

/// The wait after the `n`-th transient failure in a row (the last rung
/// repeats), in seconds.
fn rung(policy: &RetryPolicy, n: usize) -> f64 {
    let ladder = &policy.backoff_secs;
    ladder[n.clamp(1, ladder.len()) - 1] as f64
}

/// The longest a device takes to recover from a streak of `k` failures:
/// the ladder's `k` waits, the failed attempts after the first (at most the
/// command timeout each) and the one that succeeds, with a timeout's slack
/// for the queue.
fn streak_secs(policy: &RetryPolicy, k: usize) -> f64 {
    let waits: f64 = (1..=k).map(|n| rung(policy, n)).sum();
    waits + (k + 1) as f64 * policy.command_timeout_secs as f64
}

/// The streak length within which the `p` quantile of recoveries falls
/// when an attempt fails with probability `q`: the shortest `k` with
/// `q^k <= 0.7 * (1 - p)` (a streak is longer than `k` with probability
/// `q^k`; the margin absorbs the sampling of a short run).
fn streak_at_quantile(q: f64, p: f64) -> usize {
    (1..64)
        .find(|&k| q.powi(k as i32) <= 0.7 * (1.0 - p))
        .unwrap_or(64)
}

/// Probability that one attempt of `group` fails transiently.
fn failure_probability(s: &Scenario, group: usize) -> f64 {
    let rates = s.groups[group]
        .failures
        .as_ref()
        .unwrap_or(&s.attempt.failures);
    rates.entries().iter().map(|(_, p)| p).sum()
}

#[test]
fn same_scenario_and_seed_give_the_same_log_and_report() {
    let s = shipped("steady", 200, "2d");
    let a = simulation::run(&s, 42, None);
    let b = simulation::run(&s, 42, None);
    assert_eq!(a.event_log_sha256, b.event_log_sha256);
    assert_eq!(json(&a), json(&b));
    assert_eq!(a.table(), b.table());
    let c = simulation::run(&s, 43, None);
    assert_ne!(a.event_log_sha256, c.event_log_sha256, "the seed matters");
}

#[test]
fn a_restarting_run_is_deterministic_too() {
    let s = shipped("restart-storm", 100, "1d");
    let a = simulation::run(&s, 7, None);
    let b = simulation::run(&s, 7, None);
    assert!(a.restarts > 0 && a.triggers > 0);
    assert_eq!(a.event_log_sha256, b.event_log_sha256);
    assert_eq!(json(&a), json(&b));
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
            "event-log-outage",
            "flaky-wan",
            "hardware-swap",
            "password-rotation",
            "restart-storm",
            "site-outage",
            "snapshot-store-outage",
            "steady",
            "year-compaction"
        ]
    );
}

#[test]
fn steady_keeps_coverage_and_the_slot_limit() {
    let s = shipped("steady", 1000, "3d");
    let r = simulation::run(&s, 1, None);
    assert_safe(&r);
    assert!(r.coverage_min >= 0.99, "coverage {}", r.coverage_min);
    assert_eq!(
        r.peak_concurrent as u32, s.policy.max_concurrent,
        "the slots are used, never exceeded"
    );
    // One backup per interval, plus a few retries.
    let per_day = 86_400.0 / s.policy.interval_secs as f64;
    assert!(
        (per_day..per_day * 1.08).contains(&r.ssh_attempts_per_device_day),
        "{} against {per_day}",
        r.ssh_attempts_per_device_day
    );
    assert_eq!(r.unrecovered, 0);
    assert!(r.recoveries > 0, "the flaky group failed and recovered");
}

#[test]
fn flaky_wan_retries_on_the_ladder_and_recovers_within_it() {
    let s = shipped("flaky-wan", 300, "4d");
    let r = simulation::run(&s, 1, None);
    // `retry_before_ladder` is among the invariants: no retry came early.
    assert_safe(&r);
    assert!(failures(&r, "timeout") > 50, "{:?}", r.failures_by_kind);
    assert!(r.coverage_min >= 0.99, "coverage {}", r.coverage_min);
    // Recovery within the ladder: half the streaks end on the first rung,
    // 95 % within the rungs their failure rate reaches.
    let q = failure_probability(&s, 0);
    for (p, measured) in [(0.5, r.recover_p50_secs), (0.95, r.recover_p95_secs)] {
        let k = streak_at_quantile(q, p);
        let bound = streak_secs(&s.policy, k);
        assert!(
            measured <= bound,
            "p{p}: {measured} s, more than {k} rungs ({bound} s)"
        );
    }
    assert_eq!(streak_at_quantile(q, 0.5), 1, "the first rung, for a third");
}

#[test]
fn password_rotation_never_retries_a_refused_login() {
    let s = shipped("password-rotation", 200, "8d");
    let latest_fix = s
        .groups
        .iter()
        .flat_map(|g| &g.password_rotation)
        .map(|r| r.at.millis() + r.spread.millis() + r.fixed_after.millis())
        .max()
        .expect("rotations");
    assert!(latest_fix < s.duration.millis(), "every fix is in the run");
    let r = simulation::run(&s, 1, None);
    assert_safe(&r);
    let rotated: u64 = s.groups.iter().map(|g| members(g.share, s.devices)).sum();
    let refused = failures(&r, "auth_failed");
    assert!(refused > 0, "the rotation was seen");
    assert!(
        refused <= rotated,
        "one refused login per rotated device at most: {refused} of {rotated}"
    );
    assert_eq!(r.phases_at_end.get("auth_blocked"), Some(&0));
    assert_eq!(r.unrecovered, 0);
    // After `credentials-updated` the backup runs at once.
    assert!(r.recover_max_secs <= 60.0, "{}", r.recover_max_secs);
}

#[test]
fn hardware_swap_blocks_until_the_operator_resolves_the_key() {
    let s = shipped("hardware-swap", 300, "11d");
    let r = simulation::run(&s, 1, None);
    assert_safe(&r);
    let swapped: u64 = s.groups.iter().map(|g| members(g.share, s.devices)).sum();
    // A device whose key is reset a day later is always tried in between
    // (an interval is shorter); one accepted within hours may not be.
    let reset_later: u64 = s
        .groups
        .iter()
        .filter(|g| {
            g.hardware_swap
                .iter()
                .all(|w| w.resolved_after.millis() > s.policy.interval_secs * 1000)
        })
        .map(|g| members(g.share, s.devices))
        .sum();
    let mismatches = failures(&r, "host_key_mismatch");
    assert!(
        (reset_later..=swapped).contains(&mismatches),
        "one mismatch per swapped device that was tried: {mismatches}, {reset_later}..={swapped}"
    );
    assert_eq!(r.phases_at_end.get("host_key_blocked"), Some(&0));
    assert_eq!(r.unrecovered, 0);
    assert!(r.recover_max_secs <= 60.0, "{}", r.recover_max_secs);
}

#[test]
fn site_outage_recovers_within_one_recheck() {
    let s = shipped("site-outage", 400, "4d");
    let r = simulation::run(&s, 1, None);
    assert_safe(&r);
    assert!(r.skipped_offline > 0);
    // Skips are not SSH attempts.
    assert_eq!(r.attempts, r.ssh_attempts + r.skipped_offline);
    // The site comes back at once: one recheck period, plus the queue of
    // the whole dark site through the slots.
    let dark = members(s.groups[0].share, s.devices);
    let queue = dark.div_ceil(u64::from(s.policy.max_concurrent)) as f64
        * s.attempt.duration.max.millis() as f64
        / 1000.0;
    let recheck = s.policy.offline_recheck_secs as f64;
    assert!(
        r.recover_max_secs <= recheck + queue,
        "{} > {recheck} + {queue}",
        r.recover_max_secs
    );
    assert!(r.recover_p50_secs <= recheck, "{}", r.recover_p50_secs);
    // Only the dark site goes stale.
    let floor = 1.0 - s.groups[0].share - 0.01;
    assert!(
        r.coverage_min < 1.0 && r.coverage_min > floor,
        "{} (floor {floor})",
        r.coverage_min
    );
    let last = r.coverage_series.last().expect("samples").1;
    assert_eq!(last, 1.0, "everyone is fresh again at the end");
    assert_eq!(r.unrecovered, 0);
}

#[test]
fn restart_storm_has_no_burst_and_answers_every_trigger() {
    let storm = shipped("restart-storm", 300, "3d");
    let mut calm = storm.clone();
    calm.restarts = None;
    let restarts = storm.restarts.clone().expect("the file restarts");
    let first = restarts.first.unwrap_or(restarts.every).millis();
    let expected = (storm.duration.millis() - first).div_ceil(restarts.every.millis());
    let calm = simulation::run(&calm, 3, None);
    let storm = simulation::run(&storm, 3, None);
    // The invariants include: deadlines never earlier after a restart,
    // replay agrees with what was recorded, triggers answered once.
    assert_safe(&calm);
    assert_safe(&storm);
    assert_eq!(storm.restarts, expected);
    assert!(storm.triggers > 20, "{}", storm.triggers);
    assert!(
        storm.triggers_answered + storm.triggers_lost + 1 >= storm.triggers,
        "{storm:?}"
    );
    let ratio = storm.ssh_attempts_per_device_day / calm.ssh_attempts_per_device_day;
    assert!(
        (0.97..1.05).contains(&ratio),
        "restarts must not add attempts: {ratio}"
    );
    assert!(storm.coverage_min >= 0.99, "{}", storm.coverage_min);
}

#[test]
fn year_compaction_ends_with_the_same_outcomes_as_without_compaction() {
    // A third of the year (a year takes minutes in debug): past the keep
    // period three times over, with four restarts.
    let s = shipped("year-compaction", 100, "90d");
    let history = s.history.clone().expect("the file has [history]");
    let keep = history.keep.expect("compaction is on").millis();
    let r = simulation::run(&s, s.seed, None);
    assert_safe(&r);
    let h = r.history.as_ref().expect("a [history] report");
    let without = h.without.as_ref().expect("the run without [history]");
    assert!(h.same_outcomes && h.same_log, "{h:?}");
    assert_eq!(r.outcomes_sha256, without.outcomes_sha256);
    assert_eq!(r.event_log_sha256, without.event_log_sha256);
    assert_eq!(without.invariant_violations, 0);
    assert!(
        r.restarts >= 4 && h.restarts_from_checkpoint == r.restarts,
        "{h:?}"
    );
    assert!(h.events_archived > 0 && h.compactions > 0, "{h:?}");
    assert_eq!(h.events_archived + h.live_log_at_end, r.events);
    // The live log holds about the keep period's events (plus what the
    // base checkpoint and the compaction period hold back), not the run's.
    let per_ms = r.events as f64 / s.duration.millis() as f64;
    let lag = 2 * history.checkpoint_every.millis() * history.checkpoints_kept as u64
        + history.compact_every.millis();
    let bound = per_ms * (keep + lag) as f64;
    assert!(
        (h.live_log_peak as f64) < bound,
        "{} >= {bound}",
        h.live_log_peak
    );
    assert!(h.live_log_at_end < r.events / 2, "{h:?}");
    // A restart folds the tail after a checkpoint, not the whole log.
    let per_checkpoint = per_ms * history.checkpoint_every.millis() as f64;
    assert!(
        (r.longest_replay as f64) <= 1.5 * per_checkpoint,
        "{}",
        r.longest_replay
    );
    assert!(
        without.longest_replay > 10 * r.longest_replay,
        "{without:?}"
    );
    assert!(r.table().contains("(the same)"), "{}", r.table());
}

#[test]
fn a_candidate_policy_is_compared_on_the_same_world() {
    let s = shipped("steady", 200, "2d");
    let mut candidate = s.policy.clone();
    candidate.interval_secs /= 2;
    let a = simulation::run(&s, 5, None);
    let b = simulation::run(&s, 5, Some(&candidate));
    let cmp = simulation::Comparison::new(a.clone(), b.clone());
    assert!(cmp.policy_differences.contains_key("interval_secs"));
    assert!(b.ssh_attempts_per_device_day > 1.8 * a.ssh_attempts_per_device_day);
    assert!(cmp.differences.contains_key("SSH attempts per device-day"));
    assert!(cmp.table().contains("difference"));
}

fn confkeep_in(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_confkeep"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn confkeep(args: &[&str]) -> std::process::Output {
    confkeep_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// A valid-looking SVG: one `<svg>` document of plotters' making, with a
/// drawn line and the legend's labels.
fn assert_svg(bytes: &[u8], labels: &[&str]) {
    let text = std::str::from_utf8(bytes).expect("the chart is UTF-8");
    let body = text.trim();
    let body = body
        .strip_prefix("<?xml")
        .and_then(|rest| rest.split_once("?>"))
        .map_or(body, |(_, rest)| rest.trim_start());
    assert!(body.starts_with("<svg"), "{}", &body[..body.len().min(200)]);
    assert!(body.ends_with("</svg>"), "the document is closed");
    assert_eq!(body.matches("<svg").count(), 1);
    assert!(body.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(body.contains("<polyline"), "a series is drawn");
    for label in labels {
        assert!(body.contains(label), "legend {label}");
    }
}

/// A shipped file made short by text, for the CLI: `devices` and
/// `duration` lines replaced, everything else as shipped.
fn short_copy(name: &str, dir: &Path, devices: u32, duration: &str) -> PathBuf {
    let text = std::fs::read_to_string(shipped_path(name)).expect("readable");
    let mut replaced = 0;
    let short: String = text
        .lines()
        .map(|line| {
            if line.starts_with("devices = ") {
                replaced += 1;
                format!("devices = {devices}\n")
            } else if line.starts_with("duration = ") {
                replaced += 1;
                format!("duration = \"{duration}\"\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    assert_eq!(replaced, 2, "{name} has top-level devices and duration");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, short).expect("write");
    path
}

#[test]
fn the_cli_report_is_byte_identical_for_one_scenario_and_seed() {
    let input = tempfile::tempdir().expect("temp dir");
    let file = short_copy("restart-storm", input.path(), 60, "1d");
    let file = file.to_str().expect("utf-8");
    let runs: Vec<(tempfile::TempDir, std::process::Output)> = (0..2)
        .map(|_| {
            let cwd = tempfile::tempdir().expect("temp dir");
            let out = confkeep_in(cwd.path(), &["simulate", file, "--seed", "11", "--json"]);
            (cwd, out)
        })
        .collect();
    for (cwd, out) in &runs {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        // The wall-clock figures are on stderr, not in the report.
        assert!(stderr.contains("events/s"), "{stderr}");
        assert!(
            stderr.contains("coverage chart written to restart-storm.svg"),
            "{stderr}"
        );
        // The chart is written by default, named after the scenario.
        let chart = std::fs::read(cwd.path().join("restart-storm.svg")).expect("chart");
        assert_svg(&chart, &["current policy", "restart-storm"]);
    }
    let (a, b) = (&runs[0].1, &runs[1].1);
    assert!(a.stdout == b.stdout, "two runs print the same bytes");
    let text = String::from_utf8_lossy(&a.stdout);
    for clock in ["speed", "wall", "cpu", "per_sec"] {
        assert!(!text.contains(clock), "{clock} in the report:\n{text}");
    }
    let chart = |i: usize| std::fs::read(runs[i].0.path().join("restart-storm.svg"));
    assert!(
        chart(0).expect("chart") == chart(1).expect("chart"),
        "the same chart"
    );
    // The event log's hash: the same in both runs, and the library's.
    let hash = |out: &std::process::Output| {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(v["seed"], 11);
        assert!(
            v["restarts"].as_u64().is_some_and(|n| n > 0),
            "restarts were simulated"
        );
        v["event_log_sha256"].as_str().expect("a hash").to_owned()
    };
    let scenario = Scenario::load(Path::new(file)).expect("loads");
    let library = simulation::run(&scenario, 11, None);
    assert_eq!(hash(a), hash(b));
    assert_eq!(hash(a), library.event_log_sha256);
    assert_eq!(hash(a).len(), 64);

    // The table too; `--no-svg` writes no chart.
    let tables: Vec<Vec<u8>> = (0..2)
        .map(|_| {
            let cwd = tempfile::tempdir().expect("temp dir");
            let out = confkeep_in(cwd.path(), &["simulate", file, "--seed", "11", "--no-svg"]);
            assert_eq!(out.status.code(), Some(0));
            assert!(!String::from_utf8_lossy(&out.stderr).contains("chart"));
            let left = std::fs::read_dir(cwd.path()).expect("readable").count();
            assert_eq!(left, 0, "no chart written");
            out.stdout
        })
        .collect();
    assert!(tables[0] == tables[1], "two runs print the same table");
    assert_eq!(String::from_utf8_lossy(&tables[0]), library.table());
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
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("candidate policy: simulated"), "{stderr}");
    assert!(
        stderr.contains(&format!("coverage chart written to {}", svg.display())),
        "{stderr}"
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
    let chart = std::fs::read(&svg).expect("chart written");
    assert_svg(&chart, &["current policy", "candidate policy"]);
}

/// Run `simulate` and expect exit code 1 with a message naming `file`,
/// `key` and `expected`.
fn assert_refused(args: &[&str], file: &str, key: &str, expected: &str) {
    let out = confkeep(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(file), "{file}: {stderr}");
    assert!(stderr.contains(key), "{key}: {stderr}");
    assert!(stderr.contains(expected), "{expected}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty(), "no report");
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
        (
            "devices = 3\nduration = \"1d\"\n[policy]\nmax_concurrent = 0\n",
            "policy.max_concurrent",
            "at least 1",
        ),
    ];
    for (i, (text, key, expected)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&file, text).expect("write");
        let path = file.to_str().expect("utf-8");
        assert_refused(&["simulate", path], &format!("bad{i}.toml"), key, expected);
    }
}

#[test]
fn a_bad_policy_names_the_file_the_key_and_what_is_expected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = dir.path().join("fine.toml");
    std::fs::write(&scenario, "devices = 3\nduration = \"1d\"\n").expect("write");
    let cases = [
        // A daemon configuration's [policy] table, and a bare policy.
        (
            "[policy]\nintervall_secs = 3600\n",
            "policy.intervall_secs",
            "unknown field",
        ),
        ("retries = 3\n", "retries", "unknown field"),
        // The error points at the file's own line, past its other tables.
        (
            "[store]\npath = \"x\"\n\n[policy]\nintervall_secs = 3600\n",
            "policy.intervall_secs",
            "line 5",
        ),
        (
            "[policy]\ninterval_secs = -5\n",
            "policy.interval_secs",
            "expected u64",
        ),
        (
            "[policy]\nmax_concurrent = 0\n",
            "policy.max_concurrent",
            "at least 1",
        ),
        (
            "backoff_secs = [300, 0]\n",
            "backoff_secs[1]",
            "at least one second",
        ),
        (
            "[policy]\njitter_min_secs = 600\njitter_max_secs = 60\n",
            "policy.jitter_min_secs",
            "greater than jitter_max_secs",
        ),
        (
            "[policy]\nbackoff_secs = \"5m\"\n",
            "policy.backoff_secs",
            "expected a sequence",
        ),
    ];
    for (i, (text, key, expected)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("policy{i}.toml"));
        std::fs::write(&file, text).expect("write");
        assert_refused(
            &[
                "simulate",
                scenario.to_str().expect("utf-8"),
                "--policy",
                file.to_str().expect("utf-8"),
            ],
            &format!("policy{i}.toml"),
            key,
            expected,
        );
    }
}

#[test]
fn a_snapshot_store_outage_pauses_attempts_with_doubling_pauses_and_wastes_no_login() {
    let s = shipped("snapshot-store-outage", 200, "3d");
    let r = simulation::run(&s, s.seed, None);
    assert_safe(&r);
    let lengths: Vec<&str> = r
        .pauses
        .iter()
        .filter_map(|p| p.split(" pause ").nth(1))
        .collect();
    assert_eq!(
        &lengths[..7],
        [
            "1000 ms", "2000 ms", "4000 ms", "8000 ms", "16000 ms", "32000 ms", "60000 ms"
        ],
        "{:?}",
        r.pauses
    );
    assert!(
        lengths[7..].iter().all(|l| *l == "60000 ms"),
        "capped: {:?}",
        r.pauses
    );
    assert!(
        r.pauses
            .last()
            .unwrap()
            .ends_with("snapshots_unavailable ended")
    );
    // Only the probes logged in while the store was down: one per pause
    // (the first failure included), nowhere near the slots' worth.
    assert_eq!(
        r.logins_while_store_down,
        lengths.len() as u64 + 1,
        "{:?}",
        r.pauses
    );
    assert!(
        r.logins_while_store_down < 70,
        "{}",
        r.logins_while_store_down
    );
    assert!(r.coverage_min >= 0.99, "coverage {}", r.coverage_min);
    assert_eq!(failures(&r, "publish_failed"), r.logins_while_store_down);
}

#[test]
fn an_event_log_outage_records_and_starts_nothing_until_it_is_back() {
    let s = shipped("event-log-outage", 200, "3d");
    let r = simulation::run(&s, s.seed, None);
    assert_safe(&r);
    let refused = r
        .pauses
        .iter()
        .filter(|p| p.contains("event_log_unavailable pause 1000 ms"))
        .count();
    // One refused retry a second for twenty minutes.
    assert!(
        (1_100..=1_201).contains(&refused),
        "{refused}: {:?}",
        &r.pauses[..3]
    );
    assert!(
        r.pauses
            .last()
            .unwrap()
            .ends_with("event_log_unavailable ended")
    );
    assert!(
        r.pauses.first().unwrap().starts_with("+1d12:"),
        "{:?}",
        r.pauses[0]
    );
    assert_eq!(r.logins_while_store_down, 0);
    assert!(r.coverage_min >= 0.99, "coverage {}", r.coverage_min);
}
