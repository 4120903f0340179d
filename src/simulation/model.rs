//! Simulated devices: how each one answers an attempt, fault by fault.
//!
//! A device is a profile (attempt durations, transient failure
//! probabilities) plus its own schedule of faults, drawn once when the
//! fleet is built: offline windows, password rotations, hardware swaps.
//! Answering an attempt plays the collector's part: the online gate, then
//! key exchange (the TOFU check against the trusted fingerprint the
//! `Collect` effect carries), then authentication, then the export.
//!
//! Every draw comes from the caller's seeded `ChaCha8Rng`, and only integer
//! arithmetic turns draws into durations, so a run is the same on every
//! platform.

use rand::RngCore;
use rand_chacha::ChaCha8Rng;

use super::scenario::{AttemptModel, DurationDist, FailureRates, Resolve};
use crate::domain::{FailureKind, Outcome, SkipReason};

/// Attempt behaviour shared by a group of devices.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Duration quantiles in ms at 0, 50, 90, 99 and 100 % (per million).
    knots: [(u64, u64); 5],
    /// Cumulative thresholds over `u64`, in [`FAILURE_ORDER`].
    thresholds: Vec<(u64, FailureKind)>,
}

const FAILURE_ORDER: [FailureKind; 8] = [
    FailureKind::Timeout,
    FailureKind::ConnectionRefused,
    FailureKind::Unreachable,
    FailureKind::Truncated,
    FailureKind::InvalidOutput,
    FailureKind::TooLarge,
    FailureKind::PublishFailed,
    FailureKind::Other,
];

impl Profile {
    pub fn new(duration: &DurationDist, failures: &FailureRates) -> Self {
        let knots = [
            (0, duration.min.0),
            (500_000, duration.p50.0),
            (900_000, duration.p90.0),
            (990_000, duration.p99.0),
            (1_000_000, duration.max.0),
        ];
        let mut thresholds = Vec::new();
        let mut cumulative = 0.0f64;
        for ((_, p), kind) in failures.entries().into_iter().zip(FAILURE_ORDER) {
            if p > 0.0 {
                cumulative += p;
                // p * 2^64, computed exactly enough in f64 and saturated.
                let t = (cumulative.min(1.0) * 18_446_744_073_709_551_616.0) as u64;
                thresholds.push((t, kind));
            }
        }
        Profile { knots, thresholds }
    }

    pub fn from_model(model: &AttemptModel) -> Self {
        Profile::new(&model.duration, &model.failures)
    }

    /// A duration drawn from the quantiles, interpolated linearly.
    fn duration(&self, rng: &mut ChaCha8Rng) -> u64 {
        let u = rng.next_u64() % 1_000_000;
        for pair in self.knots.windows(2) {
            let [(u0, d0), (u1, d1)] = [pair[0], pair[1]];
            if u < u1 {
                let span = u1 - u0;
                return d0 + (d1.saturating_sub(d0)) * (u - u0) / span.max(1);
            }
        }
        self.knots[4].1
    }

    /// The transient failure drawn for this attempt, if any.
    fn failure(&self, rng: &mut ChaCha8Rng) -> Option<&FailureKind> {
        if self.thresholds.is_empty() {
            return None;
        }
        let u = rng.next_u64();
        self.thresholds
            .iter()
            .find(|(t, _)| u < *t)
            .map(|(_, kind)| kind)
    }
}

/// A scheduled fault of one device, in absolute virtual time (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

impl Span {
    fn contains(&self, t: u64) -> bool {
        self.start <= t && t < self.end
    }
}

/// One simulated device.
#[derive(Debug, Clone, Default)]
pub struct Device {
    /// Index into the harness's profiles.
    pub profile: u16,
    /// The online gate says offline.
    pub offline: Vec<Span>,
    /// The device refuses confkeep's password (end: the operator's fix).
    pub rotations: Vec<Span>,
    /// The device has new hardware from `start`; `end`: the operator's fix.
    pub swaps: Vec<(Span, Resolve)>,
    /// Host-key fingerprint of each hardware generation (made once: an
    /// attempt only clones one).
    keys: Vec<String>,
    /// Stand-in for the SHA-256 of the device's export.
    config_sha256: String,
}

/// What a fault an attempt ran into ends with, for the recovery measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// No scheduled fault.
    None,
    /// A scheduled fault ending at this time (window end, operator's fix).
    Until(u64),
}

/// An attempt's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub outcome: Outcome,
    pub duration_ms: u64,
    /// Whether an SSH connection was made (the online gate let it through).
    pub ssh: bool,
    pub hit: Hit,
}

impl Device {
    /// Fill in what an attempt needs, once the faults are drawn.
    pub fn prepare(&mut self, index: u32) {
        self.keys = (0..=self.swaps.len()).map(|g| host_key(index, g)).collect();
        self.config_sha256 = config_hash(index);
    }

    /// The host key the device presents at `t`: one per hardware generation.
    pub fn host_key(&self, index: u32, t: u64) -> String {
        let generation = self.swaps.iter().filter(|(s, _)| s.start <= t).count();
        match self.keys.get(generation) {
            Some(key) => key.clone(),
            None => host_key(index, generation),
        }
    }

    /// Answer an attempt started at `now`.
    pub fn answer(
        &self,
        index: u32,
        profile: &Profile,
        now: u64,
        trusted_host_key: Option<&str>,
        timeout_ms: u64,
        rng: &mut ChaCha8Rng,
    ) -> Answer {
        // The online gate is a Redis read: a few milliseconds, no SSH.
        if let Some(w) = self.offline.iter().find(|w| w.contains(now)) {
            return Answer {
                outcome: Outcome::Skipped {
                    reason: SkipReason::Offline,
                },
                duration_ms: 3,
                ssh: false,
                hit: Hit::Until(w.end),
            };
        }
        let drawn = profile.duration(rng);
        let failure = profile.failure(rng);
        let presented = self.host_key(index, now);
        if let Some(trusted) = trusted_host_key
            && trusted != presented
        {
            let end = self
                .swaps
                .iter()
                .filter(|(s, _)| s.start <= now)
                .map(|(s, _)| s.end)
                .max()
                .unwrap_or(now);
            return Answer {
                outcome: Outcome::Failed {
                    kind: FailureKind::HostKeyMismatch {
                        presented: presented.clone(),
                    },
                    message: format!("host key {presented} is not the trusted one"),
                    learned: Default::default(),
                },
                duration_ms: drawn.min(timeout_ms).min(800),
                ssh: true,
                hit: Hit::Until(end),
            };
        }
        if let Some(r) = self.rotations.iter().find(|r| r.contains(now)) {
            return Answer {
                outcome: Outcome::Failed {
                    kind: FailureKind::AuthFailed,
                    message: "authentication refused".into(),
                    learned: Default::default(),
                },
                duration_ms: drawn.min(timeout_ms).min(1_200),
                ssh: true,
                hit: Hit::Until(r.end),
            };
        }
        let (outcome, duration_ms) = match failure {
            Some(FailureKind::Timeout) => (timed_out(timeout_ms), timeout_ms),
            Some(kind) => (
                Outcome::Failed {
                    kind: kind.clone(),
                    message: format!("simulated {}", kind.name()),
                    learned: Default::default(),
                },
                drawn.min(timeout_ms),
            ),
            None if drawn > timeout_ms => (timed_out(timeout_ms), timeout_ms),
            None => (
                Outcome::Collected {
                    sha256: if self.config_sha256.is_empty() {
                        config_hash(index)
                    } else {
                        self.config_sha256.clone()
                    },
                    bytes: 20_000 + u64::from(index % 4096) * 8,
                    host_key: presented,
                    duration_ms: drawn,
                    routeros_version: Some("7.15.3".into()),
                    stored_apart: None,
                },
                drawn,
            ),
        };
        Answer {
            outcome,
            duration_ms,
            ssh: true,
            hit: Hit::None,
        }
    }
}

fn timed_out(timeout_ms: u64) -> Outcome {
    Outcome::Failed {
        kind: FailureKind::Timeout,
        message: format!("no complete export within {} s", timeout_ms / 1000),
        learned: Default::default(),
    }
}

/// The fingerprint of a device's `generation`-th hardware.
pub fn host_key(index: u32, generation: usize) -> String {
    format!("SHA256:simulated{index:07}hw{generation}")
}

/// A stable stand-in for the SHA-256 of a device's export.
fn config_hash(index: u32) -> String {
    format!(
        "{:064x}",
        u64::from(index).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn durations_stay_within_the_quantiles() {
        let p = Profile::new(&DurationDist::default(), &FailureRates::default());
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut below_p50 = 0;
        for _ in 0..10_000 {
            let d = p.duration(&mut rng);
            assert!((800..=30_000).contains(&d));
            if d <= 2_500 {
                below_p50 += 1;
            }
        }
        assert!((4_500..5_500).contains(&below_p50), "{below_p50}");
    }

    #[test]
    fn failure_rates_are_honoured() {
        let rates = FailureRates {
            timeout: 0.25,
            ..FailureRates::default()
        };
        let p = Profile::new(&DurationDist::default(), &rates);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = (0..20_000)
            .filter(|_| p.failure(&mut rng).is_some())
            .count();
        assert!((4_600..5_400).contains(&n), "{n}");
    }

    #[test]
    fn a_new_host_key_is_refused_until_trusted_again() {
        let d = Device {
            swaps: vec![(
                Span {
                    start: 100,
                    end: 200,
                },
                Resolve::Reset,
            )],
            ..Device::default()
        };
        let p = Profile::new(&DurationDist::default(), &FailureRates::default());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let old = host_key(3, 0);
        let a = d.answer(3, &p, 50, Some(&old), 60_000, &mut rng);
        assert!(matches!(a.outcome, Outcome::Collected { .. }));
        let a = d.answer(3, &p, 150, Some(&old), 60_000, &mut rng);
        assert!(matches!(
            a.outcome,
            Outcome::Failed {
                kind: FailureKind::HostKeyMismatch { .. },
                ..
            }
        ));
        assert_eq!(a.hit, Hit::Until(200));
        let a = d.answer(3, &p, 150, None, 60_000, &mut rng);
        assert!(matches!(a.outcome, Outcome::Collected { .. }));
    }
}
