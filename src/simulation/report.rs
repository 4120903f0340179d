//! What a simulation run found: a table for people, JSON for tools, and a
//! side-by-side comparison of two policies.
//!
//! Everything in a [`Report`] is a function of the scenario, the policy and
//! the seed: two runs give a byte-identical table and JSON (the determinism
//! tests check it). How fast the harness ran is a [`Speed`], kept out of the
//! report: the CLI prints it on stderr.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::domain::RetryPolicy;

/// A broken safety invariant, with what reproduces it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub seed: u64,
    /// Number of events recorded when it was seen (the global sequence).
    pub step: u64,
    /// Virtual time since the start of the run, in ms.
    pub at_ms: u64,
    pub device: Option<String>,
    /// Which invariant (`attempt_while_blocked`, `sequence_gap`, …).
    pub rule: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed {} step {} at {}: {} {}: {}",
            self.seed,
            self.step,
            fmt_duration_ms(self.at_ms),
            self.rule,
            self.device.as_deref().unwrap_or("-"),
            self.detail
        )
    }
}

/// How fast the harness ran: wall-clock figures, different on every run,
/// so never part of a [`Report`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Speed {
    /// Events the run appended (the report's `events`; twice that, near
    /// enough, for a `[history]` scenario, which is also run without it).
    pub events: u64,
    pub wall_secs: f64,
    /// CPU time of the simulating thread (Linux; `None` elsewhere): on a
    /// shared machine this, not the wall time, says what one core needs.
    pub cpu_secs: Option<f64>,
    /// Simulated events per second of wall time.
    pub events_per_sec: f64,
    /// Simulated events per second of CPU time.
    pub events_per_cpu_sec: Option<f64>,
}

impl Speed {
    /// One line for people: `simulated 2415934 events in 6.81 s (4.49 s
    /// CPU): 354820 events/s, 538070 per CPU-second`.
    pub fn line(&self) -> String {
        let cpu = match (self.cpu_secs, self.events_per_cpu_sec) {
            (Some(secs), Some(rate)) => (
                format!(" ({secs:.2} s CPU)"),
                format!(", {rate:.0} per CPU-second"),
            ),
            _ => (String::new(), String::new()),
        };
        format!(
            "simulated {} events in {:.2} s{}: {:.0} events/s{}",
            self.events, self.wall_secs, cpu.0, self.events_per_sec, cpu.1
        )
    }
}

/// The raw measures a run hands over.
#[derive(Debug, Clone)]
pub struct Measures {
    pub scenario: String,
    pub seed: u64,
    pub devices: u32,
    pub duration_ms: u64,
    pub policy: RetryPolicy,
    pub events: u64,
    pub device_days: f64,
    pub attempts: u64,
    pub ssh_attempts: u64,
    pub successes: u64,
    pub skipped_offline: u64,
    pub failures_by_kind: BTreeMap<String, u64>,
    /// `(ms since start, covered share)`.
    pub coverage: Vec<(u64, f64)>,
    pub fresh_within_ms: u64,
    /// Sorted, ms.
    pub recoveries: Vec<u64>,
    pub unrecovered: u64,
    pub auth_attempts_after_block: u64,
    pub peak_concurrent: usize,
    pub max_concurrent: usize,
    pub restarts: u64,
    pub results_lost: u64,
    pub triggers: u64,
    pub triggers_answered: u64,
    pub triggers_lost: u64,
    pub phases_at_end: BTreeMap<String, u64>,
    /// Pauses the fleet decided (log or snapshot store down), in order:
    /// `+<time> <reason> <length>` or `+<time> <reason> ended`.
    pub pauses: Vec<String>,
    /// Logins while the snapshot store was down: each one a probe after a
    /// pause; no attempt starts while a pause holds (a violation if one did).
    pub logins_while_store_down: u64,
    pub violation_count: u64,
    pub violations: Vec<Violation>,
    pub event_log_sha256: String,
    pub outcomes_sha256: String,
    pub longest_replay: u64,
    pub history: Option<HistoryReport>,
}

/// What a run with `[history]` did with its log, and how it compares with
/// the same run without (filled in by [`Report::compare_without_history`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryReport {
    pub checkpoint_every_secs: u64,
    pub checkpoints_kept: usize,
    /// `None`: no compaction.
    pub keep_secs: Option<u64>,
    pub compact_every_secs: u64,
    pub checkpoints_taken: u64,
    /// Compaction passes with a base checkpoint to work from.
    pub compactions: u64,
    /// Events moved from the live log to the archive.
    pub events_archived: u64,
    /// Events in the live log at the end (of the report's `events`).
    pub live_log_at_end: u64,
    /// The most the live log held at once: the bound compaction keeps.
    pub live_log_peak: u64,
    /// Restarts that took up a checkpoint (the others folded the whole log).
    pub restarts_from_checkpoint: u64,
    /// The same scenario and seed with `[history]` ignored.
    pub without: Option<WithoutHistory>,
    /// Both runs end with every device's outcome the same (else a violation).
    pub same_outcomes: bool,
    /// Both runs record the same log, byte for byte.
    pub same_log: bool,
}

/// The run without `[history]`: no checkpoints, no compaction, every
/// restart folds the whole log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WithoutHistory {
    pub events: u64,
    pub event_log_sha256: String,
    pub outcomes_sha256: String,
    pub longest_replay: u64,
    pub invariant_violations: u64,
}

/// The report of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub devices: u32,
    pub days: f64,
    pub policy: RetryPolicy,
    /// Events appended to the log.
    pub events: u64,
    pub events_per_device_day: f64,
    /// Attempts started (`Collect` effects), skipped ones included.
    pub attempts: u64,
    /// Attempts that opened an SSH connection (the online gate let them through).
    pub ssh_attempts: u64,
    pub ssh_attempts_per_device_day: f64,
    pub successes: u64,
    pub skipped_offline: u64,
    pub failures_by_kind: BTreeMap<String, u64>,
    /// Share of devices whose last success (or enrolment) is at most
    /// `fresh_within_secs` old, over the samples.
    pub coverage_min: f64,
    pub coverage_mean: f64,
    pub fresh_within_secs: u64,
    /// Time from the end of a fault to the device's next success.
    pub recoveries: u64,
    pub recover_p50_secs: f64,
    pub recover_p95_secs: f64,
    pub recover_max_secs: f64,
    /// Devices still in a fault episode at the end.
    pub unrecovered: u64,
    /// Logins tried against a device after it refused our credentials and
    /// before `CredentialsUpdated`: must be 0 (account lockout).
    pub auth_attempts_after_block: u64,
    pub peak_concurrent: usize,
    pub max_concurrent: usize,
    pub restarts: u64,
    /// Attempt results that died with their process.
    pub results_lost: u64,
    pub triggers: u64,
    pub triggers_answered: u64,
    pub triggers_lost: u64,
    pub phases_at_end: BTreeMap<String, u64>,
    /// The pause sequence (see [`Measures::pauses`]).
    pub pauses: Vec<String>,
    pub logins_while_store_down: u64,
    /// Must be 0.
    pub invariant_violations: u64,
    /// The first violations in full (all are counted).
    pub violations: Vec<Violation>,
    /// SHA-256 of the event log as JSON lines.
    pub event_log_sha256: String,
    /// SHA-256 of every device's outcome (see
    /// [`outcomes_sha256`](super::history::outcomes_sha256)).
    pub outcomes_sha256: String,
    /// Most envelopes a restart folded (0: no restart).
    pub longest_replay: u64,
    /// Checkpoints and compaction (a scenario with `[history]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryReport>,
    /// `(days since start, coverage)`, for the chart; not in the JSON.
    #[serde(skip)]
    pub coverage_series: Vec<(f64, f64)>,
}

/// Nearest-rank percentile of sorted samples, in seconds.
fn percentile_secs(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

impl Report {
    pub fn build(m: Measures) -> Report {
        let per_day = |x: u64| {
            if m.device_days > 0.0 {
                round(x as f64 / m.device_days, 4)
            } else {
                0.0
            }
        };
        let coverage_min = m.coverage.iter().map(|c| c.1).fold(1.0, f64::min);
        let coverage_mean = if m.coverage.is_empty() {
            1.0
        } else {
            m.coverage.iter().map(|c| c.1).sum::<f64>() / m.coverage.len() as f64
        };
        Report {
            scenario: m.scenario,
            seed: m.seed,
            devices: m.devices,
            days: round(m.duration_ms as f64 / 86_400_000.0, 4),
            policy: m.policy,
            events: m.events,
            events_per_device_day: per_day(m.events),
            attempts: m.attempts,
            ssh_attempts: m.ssh_attempts,
            ssh_attempts_per_device_day: per_day(m.ssh_attempts),
            successes: m.successes,
            skipped_offline: m.skipped_offline,
            failures_by_kind: m.failures_by_kind,
            coverage_min: round(coverage_min, 6),
            coverage_mean: round(coverage_mean, 6),
            fresh_within_secs: m.fresh_within_ms / 1000,
            recoveries: m.recoveries.len() as u64,
            recover_p50_secs: percentile_secs(&m.recoveries, 0.50),
            recover_p95_secs: percentile_secs(&m.recoveries, 0.95),
            recover_max_secs: percentile_secs(&m.recoveries, 1.0),
            unrecovered: m.unrecovered,
            auth_attempts_after_block: m.auth_attempts_after_block,
            peak_concurrent: m.peak_concurrent,
            max_concurrent: m.max_concurrent,
            restarts: m.restarts,
            results_lost: m.results_lost,
            triggers: m.triggers,
            triggers_answered: m.triggers_answered,
            triggers_lost: m.triggers_lost,
            phases_at_end: m.phases_at_end,
            pauses: m.pauses,
            logins_while_store_down: m.logins_while_store_down,
            invariant_violations: m.violation_count,
            violations: m.violations,
            event_log_sha256: m.event_log_sha256,
            outcomes_sha256: m.outcomes_sha256,
            longest_replay: m.longest_replay,
            history: m.history,
            coverage_series: m
                .coverage
                .iter()
                .map(|(t, c)| (*t as f64 / 86_400_000.0, *c))
                .collect(),
        }
    }

    /// Whether every safety property held (in the run without
    /// `[history]` too, when there was one).
    pub fn is_safe(&self) -> bool {
        let without = self
            .history
            .as_ref()
            .and_then(|h| h.without.as_ref())
            .is_none_or(|w| w.invariant_violations == 0);
        self.invariant_violations == 0
            && without
            && self.auth_attempts_after_block == 0
            && self.peak_concurrent <= self.max_concurrent
    }

    /// Compare with `without`, the same scenario and seed run with
    /// `[history]` ignored: different outcomes are a violation
    /// (`compaction_changed_outcomes`). Nothing to do without `[history]`.
    pub fn compare_without_history(&mut self, without: &Report) {
        let Some(h) = &mut self.history else {
            return;
        };
        h.same_outcomes = self.outcomes_sha256 == without.outcomes_sha256;
        h.same_log = self.event_log_sha256 == without.event_log_sha256;
        h.without = Some(WithoutHistory {
            events: without.events,
            event_log_sha256: without.event_log_sha256.clone(),
            outcomes_sha256: without.outcomes_sha256.clone(),
            longest_replay: without.longest_replay,
            invariant_violations: without.invariant_violations,
        });
        if !h.same_outcomes {
            self.invariant_violations += 1;
            self.violations.push(Violation {
                seed: self.seed,
                step: self.events,
                at_ms: (self.days * 86_400_000.0).round() as u64,
                device: None,
                rule: "compaction_changed_outcomes",
                detail: format!(
                    "outcomes sha256 {} with [history], {} without",
                    self.outcomes_sha256, without.outcomes_sha256
                ),
            });
        }
    }

    /// The rows of the table: `(metric, value)`, numbers as printed.
    pub fn rows(&self) -> Vec<(String, Value)> {
        let mut rows = vec![
            ("devices".into(), Value::Int(u64::from(self.devices))),
            ("days".into(), Value::Float(self.days, 1)),
            ("events".into(), Value::Int(self.events)),
            (
                "events per device-day".into(),
                Value::Float(self.events_per_device_day, 2),
            ),
            ("attempts".into(), Value::Int(self.attempts)),
            ("SSH attempts".into(), Value::Int(self.ssh_attempts)),
            (
                "SSH attempts per device-day".into(),
                Value::Float(self.ssh_attempts_per_device_day, 3),
            ),
            ("successes".into(), Value::Int(self.successes)),
            ("skipped (offline)".into(), Value::Int(self.skipped_offline)),
        ];
        for (kind, n) in &self.failures_by_kind {
            rows.push((format!("failed: {kind}"), Value::Int(*n)));
        }
        rows.extend([
            (
                format!(
                    "coverage min (fresh ≤ {})",
                    fmt_duration_ms(self.fresh_within_secs * 1000)
                ),
                Value::Percent(self.coverage_min),
            ),
            ("coverage mean".into(), Value::Percent(self.coverage_mean)),
            ("recoveries".into(), Value::Int(self.recoveries)),
            (
                "time to recover p50".into(),
                Value::Secs(self.recover_p50_secs),
            ),
            (
                "time to recover p95".into(),
                Value::Secs(self.recover_p95_secs),
            ),
            (
                "time to recover max".into(),
                Value::Secs(self.recover_max_secs),
            ),
            ("unrecovered at end".into(), Value::Int(self.unrecovered)),
            (
                "auth attempts after block".into(),
                Value::Int(self.auth_attempts_after_block),
            ),
            (
                format!("peak concurrent (limit {})", self.max_concurrent),
                Value::Int(self.peak_concurrent as u64),
            ),
            ("restarts".into(), Value::Int(self.restarts)),
            (
                "results lost in restarts".into(),
                Value::Int(self.results_lost),
            ),
            ("triggers".into(), Value::Int(self.triggers)),
            (
                "triggers answered".into(),
                Value::Int(self.triggers_answered),
            ),
        ]);
        for (phase, n) in &self.phases_at_end {
            rows.push((format!("at end: {phase}"), Value::Int(*n)));
        }
        if !self.pauses.is_empty() {
            rows.push((
                "pauses decided".into(),
                Value::Int(self.pauses.len() as u64),
            ));
            rows.push((
                "logins while the store was down (probes)".into(),
                Value::Int(self.logins_while_store_down),
            ));
        }
        if self.restarts > 0 {
            rows.push((
                "longest replay at a restart (events)".into(),
                Value::Int(self.longest_replay),
            ));
        }
        if let Some(h) = &self.history {
            rows.extend([
                ("checkpoints taken".into(), Value::Int(h.checkpoints_taken)),
                ("events archived".into(), Value::Int(h.events_archived)),
                (
                    "live log at end (events)".into(),
                    Value::Int(h.live_log_at_end),
                ),
                ("live log peak (events)".into(), Value::Int(h.live_log_peak)),
                (
                    "restarts from a checkpoint".into(),
                    Value::Int(h.restarts_from_checkpoint),
                ),
            ]);
            if let Some(w) = &h.without {
                rows.push((
                    "without [history]: longest replay (events)".into(),
                    Value::Int(w.longest_replay),
                ));
            }
        }
        rows.push((
            "invariant violations".into(),
            Value::Int(self.invariant_violations),
        ));
        rows
    }

    /// The report as a table, violations listed below it.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "scenario {} · seed {} · interval {} · ladder {:?} s · max_concurrent {}",
            self.scenario,
            self.seed,
            fmt_duration_ms(self.policy.interval_secs * 1000),
            self.policy.backoff_secs,
            self.policy.max_concurrent
        );
        let rows = self.rows();
        let width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
        for (name, value) in rows {
            let _ = writeln!(out, "  {name:<width$}  {}", value.show());
        }
        let _ = writeln!(
            out,
            "  {:<width$}  {}",
            "event log sha256", self.event_log_sha256
        );
        let _ = writeln!(
            out,
            "  {:<width$}  {}",
            "outcomes sha256", self.outcomes_sha256
        );
        if let Some(pair) = self
            .history
            .as_ref()
            .and_then(|h| h.without.as_ref().map(|w| (h, w)))
        {
            push_without(&mut out, width, self, pair);
        }
        if !self.pauses.is_empty() {
            let _ = writeln!(out, "pause sequence:");
            for p in self.pauses.iter().take(PAUSES_SHOWN) {
                let _ = writeln!(out, "  {p}");
            }
            if self.pauses.len() > PAUSES_SHOWN {
                let _ = writeln!(out, "  … {} more", self.pauses.len() - PAUSES_SHOWN);
            }
        }
        push_violations(&mut out, self);
        out
    }
}

/// The `[history]` run against the run without it: both digests and
/// whether they agree.
fn push_without(
    out: &mut String,
    width: usize,
    r: &Report,
    (h, w): (&HistoryReport, &WithoutHistory),
) {
    let same = |yes: bool| if yes { "the same" } else { "DIFFERENT" };
    let _ = writeln!(
        out,
        "without [history] (no checkpoints, no compaction, restarts fold the whole log):"
    );
    let _ = writeln!(
        out,
        "  {:<width$}  {} ({})",
        "event log sha256",
        w.event_log_sha256,
        same(h.same_log)
    );
    let _ = writeln!(
        out,
        "  {:<width$}  {} ({})",
        "outcomes sha256",
        w.outcomes_sha256,
        same(h.same_outcomes)
    );
    let _ = writeln!(
        out,
        "  {:<width$}  {} of {} events live at the end, {} archived; longest replay {} events, {} without",
        "the bound",
        h.live_log_at_end,
        r.events,
        h.events_archived,
        r.longest_replay,
        w.longest_replay
    );
}

/// Pauses listed in the table (all are in the JSON report).
const PAUSES_SHOWN: usize = 40;

fn push_violations(out: &mut String, r: &Report) {
    if r.invariant_violations > 0 {
        let _ = writeln!(
            out,
            "{} invariant violation(s) under policy of {} (first {} shown):",
            r.invariant_violations,
            r.scenario,
            r.violations.len()
        );
        for v in &r.violations {
            let _ = writeln!(out, "  {v}");
        }
    }
}

/// A value in the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f64, usize),
    Percent(f64),
    Secs(f64),
}

impl Value {
    fn number(self) -> f64 {
        match self {
            Value::Int(n) => n as f64,
            Value::Float(x, _) | Value::Percent(x) | Value::Secs(x) => x,
        }
    }
    fn show(self) -> String {
        match self {
            Value::Int(n) => n.to_string(),
            Value::Float(x, digits) => format!("{x:.digits$}"),
            Value::Percent(x) => format!("{:.3} %", x * 100.0),
            Value::Secs(x) => fmt_secs(x),
        }
    }
    fn difference(self, candidate: Value) -> String {
        let (a, b) = (self.number(), candidate.number());
        if a == b {
            return "=".into();
        }
        let sign = if b > a { "+" } else { "-" };
        let d = (b - a).abs();
        let shown = match self {
            Value::Int(_) => format!("{sign}{d}"),
            Value::Float(_, digits) => format!("{sign}{d:.digits$}"),
            Value::Percent(_) => format!("{sign}{:.3} pt", d * 100.0),
            Value::Secs(_) => format!("{sign}{}", fmt_secs(d)),
        };
        if a != 0.0 && !matches!(self, Value::Percent(_)) {
            format!("{shown} ({sign}{:.1} %)", d / a.abs() * 100.0)
        } else {
            shown
        }
    }
}

fn fmt_secs(s: f64) -> String {
    if s >= 3600.0 {
        format!("{:.2} h", s / 3600.0)
    } else if s >= 60.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.1} s")
    }
}

/// `3d04h05m` style, for virtual times.
pub fn fmt_duration_ms(ms: u64) -> String {
    let s = ms / 1000;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut out = String::new();
    if d > 0 {
        let _ = write!(out, "{d}d");
    }
    if h > 0 || (d > 0 && (m > 0 || sec > 0)) {
        let _ = write!(out, "{h:02}h");
    }
    if m > 0 || sec > 0 {
        let _ = write!(out, "{m:02}m");
    }
    if sec > 0 || out.is_empty() {
        let _ = write!(out, "{sec:02}s");
    }
    out
}

/// Two runs of one scenario and seed under two policies.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub current: Report,
    pub candidate: Report,
    /// Policy fields that differ: `field → [current, candidate]`.
    pub policy_differences: BTreeMap<String, [serde_json::Value; 2]>,
    /// Metrics that differ: `metric → [current, candidate]`.
    pub differences: BTreeMap<String, [f64; 2]>,
}

impl Comparison {
    pub fn new(current: Report, candidate: Report) -> Comparison {
        let mut policy_differences = BTreeMap::new();
        if let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) = (
            serde_json::to_value(&current.policy),
            serde_json::to_value(&candidate.policy),
        ) {
            for (k, va) in &a {
                let vb = b.get(k).cloned().unwrap_or(serde_json::Value::Null);
                if *va != vb {
                    policy_differences.insert(k.clone(), [va.clone(), vb]);
                }
            }
        }
        let mut differences = BTreeMap::new();
        let (ra, rb) = (current.rows(), candidate.rows());
        let b: BTreeMap<&str, Value> = rb.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        for (k, va) in &ra {
            if let Some(vb) = b.get(k.as_str())
                && va.number() != vb.number()
            {
                differences.insert(k.clone(), [va.number(), vb.number()]);
            }
        }
        Comparison {
            current,
            candidate,
            policy_differences,
            differences,
        }
    }

    /// Side by side, with the difference of each metric.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let (a, b) = (&self.current, &self.candidate);
        let _ = writeln!(
            out,
            "scenario {} · seed {} · current vs candidate policy",
            a.scenario, a.seed
        );
        for (field, [va, vb]) in &self.policy_differences {
            let _ = writeln!(out, "  policy.{field}: {va} → {vb}");
        }
        let ra = a.rows();
        let rb: BTreeMap<String, Value> = b.rows().into_iter().collect();
        let mut names: Vec<String> = ra.iter().map(|r| r.0.clone()).collect();
        for (k, _) in b.rows() {
            if !names.contains(&k) {
                names.push(k);
            }
        }
        let ma: BTreeMap<String, Value> = ra.into_iter().collect();
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "  {:<width$}  {:>16}  {:>16}  difference",
            "metric", "current", "candidate"
        );
        for name in names {
            let va = ma.get(&name).copied();
            let vb = rb.get(&name).copied();
            let shown = |v: Option<Value>| v.map_or("-".to_owned(), Value::show);
            let diff = match (va, vb) {
                (Some(x), Some(y)) => x.difference(y),
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "  {name:<width$}  {:>16}  {:>16}  {diff}",
                shown(va),
                shown(vb)
            );
        }
        push_violations(&mut out, a);
        push_violations(&mut out, b);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<u64> = (1..=100).map(|s| s * 1000).collect();
        assert_eq!(percentile_secs(&v, 0.5), 50.0);
        assert_eq!(percentile_secs(&v, 0.95), 95.0);
        assert_eq!(percentile_secs(&v, 1.0), 100.0);
        assert_eq!(percentile_secs(&[], 0.5), 0.0);
    }

    #[test]
    fn virtual_times_read_like_durations() {
        assert_eq!(fmt_duration_ms(0), "00s");
        assert_eq!(fmt_duration_ms(90_000), "01m30s");
        assert_eq!(fmt_duration_ms(86_400_000 * 3 + 3_600_000 * 4), "3d04h");
    }
}
