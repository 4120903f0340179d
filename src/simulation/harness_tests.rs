//! The invariant checkers fire: each test forges one violation into an
//! otherwise clean run and expects it reported with its seed and step.

use std::path::Path;

use super::*;

const DAY: u64 = 86_400_000;

fn scenario(text: &str) -> Scenario {
    Scenario::parse(Path::new("forged.toml"), text).expect("the test scenario parses")
}

/// Run a clean first day, let `forge` break something, run to the end.
/// Returns the report, the log and the steps recorded before the forgery.
fn forged(
    s: &Scenario,
    seed: u64,
    forge: impl FnOnce(&mut Harness<'_>),
) -> (Report, Vec<Envelope>, u64) {
    let mut h = Harness::new(s, seed, s.policy.clone());
    h.log = Some(Vec::new());
    h.enrol();
    h.run_until(START_MS + DAY);
    let clean = h.steps;
    assert_eq!(h.violation_count, 0, "{:?}", h.violations);
    forge(&mut h);
    h.run_until(h.end);
    let log = h.log.take().unwrap_or_default();
    (h.finish(), log, clean)
}

fn assert_reported(r: &Report, rule: &str, seed: u64, after_step: u64) -> Violation {
    assert!(!r.is_safe());
    assert!(r.invariant_violations >= 1);
    let v = r.violations[0].clone();
    assert_eq!((v.rule, v.seed), (rule, seed), "{v}");
    assert!(v.step > after_step && v.step <= r.events, "{v}");
    assert!(
        v.to_string()
            .starts_with(&format!("seed {seed} step {} at ", v.step)),
        "{v}"
    );
    v
}

#[test]
fn a_login_against_a_device_blocked_on_its_credentials_is_reported() {
    let s = scenario("devices = 20\nduration = \"2d\"\n");
    // The harness believes dev-000003 refused our credentials; the
    // machine never saw it, so it goes on collecting from it.
    let (r, log, clean) = forged(&s, 77, |h| h.tracks[3].auth_blocked = true);
    let v = assert_reported(&r, "attempt_while_blocked", 77, clean);
    assert_eq!(v.device.as_deref(), Some("dev-000003"));
    assert!(r.auth_attempts_after_block >= 1);
    // The step names the recorded event whose decision started the attempt.
    let env = &log[(v.step - 1) as usize];
    assert_eq!(env.device.as_str(), "dev-000003");
    assert!(matches!(env.event, Event::TimerFired { .. }), "{env:?}");
}

#[test]
fn two_attempts_at_once_on_one_device_are_reported() {
    let s = scenario("devices = 20\nduration = \"2d\"\n");
    let (r, log, clean) = forged(&s, 5, |h| h.tracks[7].in_flight = Some(u64::MAX));
    let v = assert_reported(&r, "two_attempts", 5, clean);
    assert_eq!(v.device.as_deref(), Some("dev-000007"));
    assert_eq!(log[(v.step - 1) as usize].device.as_str(), "dev-000007");
}

#[test]
fn a_peak_over_the_limit_is_reported() {
    // Every device is due at once (no jitter): a scheduler with more
    // slots than the policy allows runs too many.
    let s = scenario(
        "devices = 12\nduration = \"1d\"\n[policy]\njitter_min_secs = 0\njitter_max_secs = 0\nmax_concurrent = 4\n",
    );
    let mut h = Harness::new(&s, 9, s.policy.clone());
    h.fleet.pin_max_concurrent(8);
    let r = h.run();
    let v = assert_reported(&r, "too_many_running", 9, 12);
    assert!(v.detail.contains("limit 4"), "{v}");
    assert_eq!((r.peak_concurrent, r.max_concurrent), (8, 4));
}

#[test]
fn a_clean_run_reports_nothing() {
    let s = scenario("devices = 20\nduration = \"2d\"\n");
    let (r, _, _) = forged(&s, 77, |_| {});
    assert!(
        r.is_safe() && r.invariant_violations == 0,
        "{:?}",
        r.violations
    );
}

#[test]
fn history_changes_no_outcome_and_a_difference_is_a_violation() {
    let s = scenario(
        "devices = 10\nduration = \"3d\"\n[history]\ncheckpoint_every = \"6h\"\nkeep = \"1d\"\ncompact_every = \"6h\"\n[restarts]\nevery = \"20h\"\n",
    );
    let r = crate::simulation::run(&s, 3, None);
    assert!(r.is_safe(), "{:?}", r.violations);
    let h = r.history.clone().expect("[history]");
    assert!(h.same_outcomes && h.same_log, "{h:?}");
    assert!(
        h.events_archived > 0 && h.restarts_from_checkpoint == 3,
        "{h:?}"
    );
    assert!(r.longest_replay < h.without.as_ref().expect("compared").longest_replay);
    // Another seed's outcomes stand in for a compaction that changed them.
    let other = Harness::new(&s, 4, s.policy.clone()).run();
    let mut forged = r.clone();
    forged.compare_without_history(&other);
    assert!(!forged.is_safe());
    let v = forged.violations.last().expect("a violation");
    assert_eq!((v.rule, v.seed), ("compaction_changed_outcomes", 3));
    assert!(forged.table().contains("DIFFERENT"), "{}", forged.table());
}
