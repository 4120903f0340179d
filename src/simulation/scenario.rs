//! Scenario files: what fleet to simulate, for how long, and what goes wrong.
//!
//! A scenario is a TOML file (see `simulations/README.md` for every key).
//! Parsing is strict: an unknown key, a value of the wrong type, an
//! impossible value (a probability above 1, a negative duration, shares
//! adding up to more than the fleet) or a missing field is a
//! [`ScenarioError`] naming the file, the key and what is expected. Nothing
//! in here panics on a file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::domain::{PolicyError, RetryPolicy};

/// A scenario or policy file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read it: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key is unknown, missing or of the
    /// wrong type, or a value is impossible.
    #[error("{file}: {key}: {message}")]
    Invalid {
        file: PathBuf,
        /// Where in the file, as a dotted path (`group[1].failures.timeout`).
        key: String,
        /// What was wrong and what is expected.
        message: String,
    },
}

/// A span of virtual time, in milliseconds.
///
/// In a file: whole seconds (`90`) or a whole number with a unit (`250ms`,
/// `90s`, `15m`, `12h`, `30d`). Never negative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct SimDuration(pub u64);

impl SimDuration {
    pub fn from_secs(s: u64) -> Self {
        SimDuration(s.saturating_mul(1000))
    }
    pub fn millis(self) -> u64 {
        self.0
    }
    /// Parse `250ms`, `90s`, `15m`, `12h`, `30d` or plain seconds (`90`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let expected = "expected a duration: whole seconds (90) or a whole number with a unit (250ms, 90s, 15m, 12h, 30d)";
        if text.starts_with('-') {
            return Err(format!("negative duration {text:?}: {expected}"));
        }
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let Ok(n) = number.parse::<u64>() else {
            return Err(format!("{text:?} is not a duration: {expected}"));
        };
        let scale: u64 = match unit.trim() {
            "ms" => 1,
            "" | "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            other => return Err(format!("unknown unit {other:?} in {text:?}: {expected}")),
        };
        n.checked_mul(scale)
            .map(SimDuration)
            .ok_or_else(|| format!("{text:?} is too long: {expected}"))
    }
}

impl std::fmt::Display for SimDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0;
        for (unit, scale) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1000),
        ] {
            if ms >= scale && ms.is_multiple_of(scale) {
                return write!(f, "{}{unit}", ms / scale);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl<'de> Deserialize<'de> for SimDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SimDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration: whole seconds (90) or a whole number with a unit (250ms, 90s, 15m, 12h, 30d)")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SimDuration, E> {
                if v < 0 {
                    return Err(E::custom(format!(
                        "negative duration {v}: expected a duration of 0 or more: whole seconds (90) or a whole number with a unit (250ms, 90s, 15m, 12h, 30d)"
                    )));
                }
                Ok(SimDuration::from_secs(v as u64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SimDuration, E> {
                Ok(SimDuration::from_secs(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SimDuration, E> {
                SimDuration::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A whole simulation: the fleet, its policy and its faults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Shown in the report; defaults to the file's stem.
    #[serde(default)]
    pub name: String,
    /// Seed used when `--seed` is not given.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Devices enrolled at the start.
    pub devices: u32,
    /// Virtual time simulated.
    pub duration: SimDuration,
    /// The policy in force (defaults: the daemon's defaults). Its
    /// `max_concurrent` is the daemon's slot count.
    #[serde(default)]
    pub policy: RetryPolicy,
    /// How every device behaves unless its group says otherwise.
    #[serde(default)]
    pub attempt: AttemptModel,
    /// Groups of devices with their own faults (disjoint, drawn at random).
    #[serde(default, rename = "group")]
    pub groups: Vec<Group>,
    /// Daemon restarts (the process dies and replays the log).
    #[serde(default)]
    pub restarts: Option<Restarts>,
    /// Parts the whole fleet needs that go down for a while.
    #[serde(default, rename = "outage")]
    pub outages: Vec<PartOutage>,
    /// Manual triggers by operators.
    #[serde(default)]
    pub triggers: Option<Triggers>,
    /// How the report measures.
    #[serde(default)]
    pub report: ReportSettings,
    /// Checkpoints and compaction, as the daemon's `[history]` keeps them
    /// (absent: the log is kept whole and a restart replays all of it).
    #[serde(default)]
    pub history: Option<HistorySettings>,
}

fn default_seed() -> u64 {
    1
}

/// A part the whole fleet needs, down from `start` for `length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartOutage {
    pub part: Part,
    pub start: SimDuration,
    pub length: SimDuration,
}

/// Which part: the snapshot store (every publish fails: a full disk, an
/// unreachable stream) or the event log (every append is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Snapshots,
    EventLog,
}

/// Attempt durations, as percentiles (the simulator interpolates linearly
/// between them). An attempt longer than the policy's command timeout ends
/// as a `Timeout` at the timeout.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DurationDist {
    pub min: SimDuration,
    pub p50: SimDuration,
    pub p90: SimDuration,
    pub p99: SimDuration,
    pub max: SimDuration,
}

impl Default for DurationDist {
    fn default() -> Self {
        DurationDist {
            min: SimDuration(800),
            p50: SimDuration(2_500),
            p90: SimDuration(5_000),
            p99: SimDuration(12_000),
            max: SimDuration(30_000),
        }
    }
}

/// Probability, per attempt, of each transient failure kind (the rest of
/// the time the attempt succeeds).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailureRates {
    pub timeout: f64,
    pub connection_refused: f64,
    pub unreachable: f64,
    pub truncated: f64,
    pub invalid_output: f64,
    pub too_large: f64,
    pub publish_failed: f64,
    pub other: f64,
}

impl FailureRates {
    /// `(key, probability)` in a fixed order.
    pub fn entries(&self) -> [(&'static str, f64); 8] {
        [
            ("timeout", self.timeout),
            ("connection_refused", self.connection_refused),
            ("unreachable", self.unreachable),
            ("truncated", self.truncated),
            ("invalid_output", self.invalid_output),
            ("too_large", self.too_large),
            ("publish_failed", self.publish_failed),
            ("other", self.other),
        ]
    }
}

/// How a device answers an attempt.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttemptModel {
    pub duration: DurationDist,
    pub failures: FailureRates,
}

/// A share of the fleet with its own faults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// For the report and errors.
    pub name: String,
    /// Share of the fleet in this group, 0 to 1 (rounded to whole devices).
    pub share: f64,
    /// Attempt durations (default: `[attempt.duration]`).
    #[serde(default)]
    pub duration: Option<DurationDist>,
    /// Transient failure probabilities (default: `[attempt.failures]`).
    #[serde(default)]
    pub failures: Option<FailureRates>,
    /// Windows in which the online gate says the device is offline.
    #[serde(default)]
    pub offline: Vec<Window>,
    /// The device's password changes and confkeep's copy is stale until
    /// the operator fixes it and runs `credentials-updated`.
    #[serde(default)]
    pub password_rotation: Vec<Rotation>,
    /// The device is replaced: a new host key, until the operator resets or
    /// accepts it.
    #[serde(default)]
    pub hardware_swap: Vec<Swap>,
}

/// A fault window, per device starting at `start` plus a random part of
/// `spread` (from the start of the simulation).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub start: SimDuration,
    pub length: SimDuration,
    #[serde(default)]
    pub spread: SimDuration,
}

/// A password rotation at `at` (+ a random part of `spread`); the operator
/// updates confkeep's credentials `fixed_after` later.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    pub at: SimDuration,
    #[serde(default)]
    pub spread: SimDuration,
    pub fixed_after: SimDuration,
}

/// What the operator does about a new host key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolve {
    /// `confkeep host-key reset`: trust the next key presented.
    #[default]
    Reset,
    /// `confkeep host-key accept FINGERPRINT`: trust this key.
    Accept,
}

/// A hardware swap at `at` (+ a random part of `spread`); the operator
/// resolves the new key `resolved_after` later.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Swap {
    pub at: SimDuration,
    #[serde(default)]
    pub spread: SimDuration,
    pub resolved_after: SimDuration,
    #[serde(default)]
    pub resolve: Resolve,
}

/// Daemon restarts every `every`, the first at `first` (default: `every`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restarts {
    pub every: SimDuration,
    #[serde(default)]
    pub first: Option<SimDuration>,
    /// Time the daemon is down before the new process replays the log.
    #[serde(default)]
    pub downtime: SimDuration,
}

/// Manual triggers, at random times on random devices.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    /// Triggers per day, fleet-wide.
    pub per_day: f64,
}

/// `[history]`: checkpoints of the folded machines and compaction of the
/// live log, in virtual time (the daemon's `[history]`, by time only).
/// A run with it is also run without it, and the report compares them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistorySettings {
    /// A checkpoint this often (default: 10 minutes, the daemon's).
    pub checkpoint_every: SimDuration,
    /// Checkpoints kept, the newest; the oldest kept is compaction's base,
    /// the newest the one a restart starts from (default: 3).
    pub checkpoints_kept: usize,
    /// Events older than this leave the live log for the archive (the
    /// daemon's `keep_days`, in any unit); absent: no compaction.
    pub keep: Option<SimDuration>,
    /// How often compaction runs (default: hourly, the daemon's).
    pub compact_every: SimDuration,
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings {
            checkpoint_every: SimDuration(600_000),
            checkpoints_kept: 3,
            keep: None,
            compact_every: SimDuration(3_600_000),
        }
    }
}

/// Most checkpoints a scenario keeps: each is every device's state, held
/// in memory.
const CHECKPOINTS_KEPT_MAX: usize = 1000;

/// How the report measures.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSettings {
    /// Coverage is sampled this often.
    pub sample_every: SimDuration,
    /// A device is covered when its last success (or, before its first,
    /// its enrolment) is at most this old. Default: two intervals of the
    /// scenario's policy (kept for a `--policy` candidate, so both runs are
    /// measured by the same yardstick).
    pub fresh_within: Option<SimDuration>,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            sample_every: SimDuration(600_000),
            fresh_within: None,
        }
    }
}

fn invalid(file: &Path, key: impl Into<String>, message: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        file: file.to_path_buf(),
        key: key.into(),
        message: message.into(),
    }
}

/// Parse TOML text into `T`, naming the key of any error.
fn parse_toml<T: serde::de::DeserializeOwned>(file: &Path, text: &str) -> Result<T, ScenarioError> {
    let de = toml::de::Deserializer::parse(text)
        .map_err(|e| invalid(file, "(syntax)", e.to_string().trim_end().to_owned()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." || path.is_empty() {
            "top level".to_owned()
        } else {
            path
        };
        let message = e.into_inner().to_string().trim_end().to_owned();
        invalid(file, key, message)
    })
}

impl Scenario {
    /// Read and check a scenario file.
    pub fn load(file: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(file).map_err(|source| ScenarioError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        Scenario::parse(file, &text)
    }

    /// Parse and check scenario text; `file` names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let mut scenario: Scenario = parse_toml(file, text)?;
        if scenario.name.is_empty() {
            scenario.name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into());
        }
        scenario.validate(file)?;
        Ok(scenario)
    }

    /// Check every value that the types alone do not.
    pub fn validate(&self, file: &Path) -> Result<(), ScenarioError> {
        if self.devices == 0 || self.devices > 1_000_000 {
            return Err(invalid(
                file,
                "devices",
                format!("{} devices: expected 1 to 1000000", self.devices),
            ));
        }
        if self.duration.0 == 0 {
            return Err(invalid(file, "duration", "expected a duration above 0"));
        }
        self.policy
            .validate()
            .map_err(|e| policy_invalid(file, "policy.", &e))?;
        check_dist(file, "attempt.duration", &self.attempt.duration)?;
        check_rates(file, "attempt.failures", &self.attempt.failures)?;
        let mut total_share = 0.0;
        for (i, g) in self.groups.iter().enumerate() {
            let at = |k: &str| format!("group[{i}].{k}");
            check_probability(file, &at("share"), g.share)?;
            total_share += g.share;
            if let Some(d) = &g.duration {
                check_dist(file, &at("duration"), d)?;
            }
            if let Some(r) = &g.failures {
                check_rates(file, &at("failures"), r)?;
            }
            for (j, w) in g.offline.iter().enumerate() {
                if w.length.0 == 0 {
                    return Err(invalid(
                        file,
                        at(&format!("offline[{j}].length")),
                        "expected a duration above 0",
                    ));
                }
            }
        }
        if total_share > 1.0 + 1e-9 {
            return Err(invalid(
                file,
                "group[*].share",
                format!(
                    "the groups' shares add up to {total_share}: expected at most 1 (groups are disjoint)"
                ),
            ));
        }
        if let Some(r) = &self.restarts
            && r.every.0 == 0
        {
            return Err(invalid(
                file,
                "restarts.every",
                "expected a duration above 0",
            ));
        }
        if let Some(t) = &self.triggers
            && !(t.per_day.is_finite() && t.per_day >= 0.0 && t.per_day <= 1e6)
        {
            return Err(invalid(
                file,
                "triggers.per_day",
                format!(
                    "{}: expected a number of triggers per day from 0 to 1000000",
                    t.per_day
                ),
            ));
        }
        if let Some(h) = &self.history {
            check_history(file, h)?;
        }
        if self.report.sample_every.0 == 0 {
            return Err(invalid(
                file,
                "report.sample_every",
                "expected a duration above 0",
            ));
        }
        if self.report.fresh_within == Some(SimDuration(0)) {
            return Err(invalid(
                file,
                "report.fresh_within",
                "expected a duration above 0",
            ));
        }
        Ok(())
    }

    /// A smaller (or larger) copy of this scenario: `devices` devices over
    /// `duration`, with the file's shape per device kept. Group shares and
    /// the fault schedule stay as written (times from the start: a fault
    /// after `duration` does not happen), triggers keep their rate per
    /// device, and `max_concurrent` keeps the devices per slot (at least 2,
    /// or the file's value when lower, so concurrency is still exercised).
    /// Tests run the shipped files this way, in seconds.
    pub fn scaled(&self, devices: u32, duration: SimDuration) -> Scenario {
        let factor = f64::from(devices) / f64::from(self.devices.max(1));
        let mut s = self.clone();
        s.devices = devices;
        s.duration = duration;
        let slots = (f64::from(self.policy.max_concurrent) * factor).round() as u32;
        s.policy.max_concurrent = slots.max(self.policy.max_concurrent.min(2));
        if let Some(t) = &mut s.triggers {
            t.per_day *= factor;
        }
        s
    }

    /// The freshness yardstick of the coverage measure.
    pub fn fresh_within(&self) -> SimDuration {
        self.report.fresh_within.unwrap_or(SimDuration::from_secs(
            self.policy.interval_secs.saturating_mul(2),
        ))
    }
}

fn check_history(file: &Path, h: &HistorySettings) -> Result<(), ScenarioError> {
    if h.checkpoint_every.0 == 0 {
        return Err(invalid(
            file,
            "history.checkpoint_every",
            "expected a duration above 0",
        ));
    }
    if !(1..=CHECKPOINTS_KEPT_MAX).contains(&h.checkpoints_kept) {
        return Err(invalid(
            file,
            "history.checkpoints_kept",
            format!(
                "{} checkpoints: expected 1 to {CHECKPOINTS_KEPT_MAX} (a restart starts from the newest kept, compaction keeps what the oldest does not hold)",
                h.checkpoints_kept
            ),
        ));
    }
    if h.compact_every.0 == 0 {
        return Err(invalid(
            file,
            "history.compact_every",
            "expected a duration above 0",
        ));
    }
    Ok(())
}

fn check_probability(file: &Path, key: &str, p: f64) -> Result<(), ScenarioError> {
    if !(p.is_finite() && (0.0..=1.0).contains(&p)) {
        return Err(invalid(
            file,
            key,
            format!("{p}: expected a probability between 0 and 1"),
        ));
    }
    Ok(())
}

fn check_rates(file: &Path, key: &str, rates: &FailureRates) -> Result<(), ScenarioError> {
    let mut sum = 0.0;
    for (k, p) in rates.entries() {
        check_probability(file, &format!("{key}.{k}"), p)?;
        sum += p;
    }
    if sum > 1.0 + 1e-9 {
        return Err(invalid(
            file,
            key,
            format!("the failure probabilities add up to {sum}: expected at most 1"),
        ));
    }
    Ok(())
}

fn check_dist(file: &Path, key: &str, d: &DurationDist) -> Result<(), ScenarioError> {
    let points = [
        ("min", d.min),
        ("p50", d.p50),
        ("p90", d.p90),
        ("p99", d.p99),
        ("max", d.max),
    ];
    for pair in points.windows(2) {
        let [(ka, a), (kb, b)] = pair else { continue };
        if b < a {
            return Err(invalid(
                file,
                format!("{key}.{kb}"),
                format!("{b} is shorter than {ka} ({a}): expected min <= p50 <= p90 <= p99 <= max"),
            ));
        }
    }
    Ok(())
}

/// Read a candidate policy: either a file with a `[policy]` table (a
/// daemon configuration file works; only its `[policy]` is read) or a bare
/// policy (the keys of `RetryPolicy` at the top level).
pub fn load_policy(file: &Path) -> Result<RetryPolicy, ScenarioError> {
    let text = std::fs::read_to_string(file).map_err(|source| ScenarioError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    let table: toml::Table = parse_toml(file, &text)?;
    let (prefix, policy) = if table.contains_key("policy") {
        // Parsed from the file itself, so an error points at its own line;
        // the file's other tables (a daemon configuration's) are ignored.
        #[derive(Deserialize)]
        struct WithPolicy {
            policy: RetryPolicy,
            #[serde(flatten)]
            _rest: toml::Table,
        }
        ("policy.", parse_toml::<WithPolicy>(file, &text)?.policy)
    } else {
        ("", parse_toml::<RetryPolicy>(file, &text)?)
    };
    policy
        .validate()
        .map_err(|e| policy_invalid(file, prefix, &e))?;
    Ok(policy)
}

/// A policy that cannot work, keyed by its field (`prefix` + the field:
/// `policy.max_concurrent`, or `max_concurrent` in a bare policy file); the
/// message says what is expected.
fn policy_invalid(file: &Path, prefix: &str, e: &PolicyError) -> ScenarioError {
    let field = match e {
        PolicyError::ZeroInterval => "interval_secs".to_owned(),
        PolicyError::EmptyLadder => "backoff_secs".to_owned(),
        PolicyError::ZeroBackoff { index } => format!("backoff_secs[{index}]"),
        PolicyError::JitterInverted { .. } => "jitter_min_secs".to_owned(),
        PolicyError::ZeroConcurrency => "max_concurrent".to_owned(),
        PolicyError::ZeroCommandTimeout => "command_timeout_secs".to_owned(),
    };
    invalid(file, format!("{prefix}{field}"), e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, String> {
        Scenario::parse(Path::new("x.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn durations_take_units_and_refuse_negatives() {
        assert_eq!(SimDuration::parse("250ms").unwrap().0, 250);
        assert_eq!(SimDuration::parse("90").unwrap().0, 90_000);
        assert_eq!(SimDuration::parse("12h").unwrap().0, 43_200_000);
        assert!(SimDuration::parse("-5s").unwrap_err().contains("negative"));
        assert!(SimDuration::parse("5 weeks").is_err());
    }

    #[test]
    fn a_minimal_scenario_parses_with_defaults() {
        let s = parse("devices = 3\nduration = \"1d\"\n").unwrap();
        assert_eq!(s.name, "x");
        assert_eq!(s.policy, RetryPolicy::default());
        assert_eq!(s.fresh_within().0, 2 * 21_600_000);
    }

    #[test]
    fn errors_name_the_file_the_key_and_what_is_expected() {
        let e = parse("devices = 3\nduration = \"1d\"\ndevicez = 4\n").unwrap_err();
        assert!(e.starts_with("x.toml: "), "{e}");
        assert!(e.contains("devicez"), "{e}");
        let e = parse("duration = \"1d\"\n").unwrap_err();
        assert!(e.contains("missing field `devices`"), "{e}");
        let e = parse("devices = 3\nduration = -5\n").unwrap_err();
        assert!(
            e.contains("duration") && e.contains("negative duration"),
            "{e}"
        );
        let e = parse(
            "devices = 3\nduration = \"1d\"\n[[group]]\nname = \"a\"\nshare = 0.5\n[group.failures]\ntimeout = 1.5\n",
        )
        .unwrap_err();
        assert!(e.contains("group[0].failures.timeout"), "{e}");
        assert!(e.contains("between 0 and 1"), "{e}");
        let e = parse("devices = 3\nduration = \"1d\"\n[policy]\nintervall = 4\n").unwrap_err();
        assert!(e.contains("policy") && e.contains("intervall"), "{e}");
    }

    #[test]
    fn a_bad_history_field_is_refused_by_name() {
        let base = "devices = 3\nduration = \"1d\"\n[history]\n";
        let s = parse(&format!("{base}keep = \"30d\"\n")).unwrap();
        let h = s.history.expect("[history] read");
        assert_eq!(h.keep, Some(SimDuration(30 * 86_400_000)));
        assert_eq!((h.checkpoints_kept, h.compact_every.0), (3, 3_600_000));
        for (text, key, why) in [
            (
                "checkpoints_kept = 0",
                "history.checkpoints_kept",
                "expected 1 to",
            ),
            (
                "checkpoint_every = \"0s\"",
                "history.checkpoint_every",
                "above 0",
            ),
            ("compact_every = 0", "history.compact_every", "above 0"),
            ("keep = \"-3d\"", "history.keep", "negative duration"),
            ("keep_days = 30", "keep_days", "unknown field"),
        ] {
            let e = parse(&format!("{base}{text}\n")).unwrap_err();
            assert!(e.starts_with("x.toml: "), "{e}");
            assert!(e.contains(key) && e.contains(why), "{text}: {e}");
        }
    }
}
