//! The fleet-wide decisions beside the machines: when attempts pause
//! because a part the whole fleet needs is down, and the enrolment jitter.
//!
//! Both drivers (the tokio runner and the simulation harness) reach them
//! only through [`Fleet`](super::fleet::Fleet), so the simulation exercises
//! exactly what production decides. Time comes in as `now`; the jitter comes
//! from a generator seeded by the driver, and each draw is recorded in the
//! `Enrolled` event it goes into, so a replay never draws again.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::event::{FailureKind, Outcome};
use super::policy::RetryPolicy;
use super::time::Timestamp;

/// Why attempts are paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseReason {
    /// The event log refused an append: nothing new is recorded (every
    /// input waits, not only attempts) until the pause ends and a retry
    /// succeeds.
    EventLogUnavailable,
    /// A snapshot could not be published: every further attempt would log
    /// into a router only to fail the same way. The attempt after the pause
    /// is the probe.
    SnapshotsUnavailable,
}

impl PauseReason {
    pub fn name(self) -> &'static str {
        match self {
            PauseReason::EventLogUnavailable => "event_log_unavailable",
            PauseReason::SnapshotsUnavailable => "snapshots_unavailable",
        }
    }
}

/// A pause decided: its reason, length and end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub reason: PauseReason,
    pub length_ms: u64,
    pub until: Timestamp,
}

/// What a driver reports about pauses (log lines, health, a simulation's
/// pause sequence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseNews {
    /// The part just failed: the first pause of an outage.
    Began(Pause),
    /// It failed again after a pause: a longer pause.
    Extended(Pause),
    /// It works again: the outage that began at `since` is over.
    Ended {
        reason: PauseReason,
        since: Timestamp,
    },
}

/// How long pauses last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PauseSettings {
    /// After the log refused an append, before trying again.
    pub log_retry_ms: u64,
    /// The first pause after a snapshot could not be published; it doubles
    /// while the store stays down, up to `snapshot_max_ms`.
    pub snapshot_first_ms: u64,
    pub snapshot_max_ms: u64,
}

impl Default for PauseSettings {
    fn default() -> Self {
        PauseSettings {
            log_retry_ms: 1_000,
            snapshot_first_ms: 1_000,
            snapshot_max_ms: 60_000,
        }
    }
}

/// One outage of a part: since when, and the pause in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Outage {
    since: Timestamp,
    pause: Pause,
    /// An attempt started after the pause ended: the probe. No other
    /// attempt starts until its result is recorded.
    probing: bool,
}

/// The pauses in force.
#[derive(Debug, Clone, Default)]
pub struct Pauses {
    settings: PauseSettings,
    log: Option<Outage>,
    snapshots: Option<Outage>,
}

impl Pauses {
    pub fn new(settings: PauseSettings) -> Self {
        Pauses {
            settings,
            log: None,
            snapshots: None,
        }
    }

    /// The log refused an append at `now`.
    pub fn log_unavailable(&mut self, now: Timestamp) -> PauseNews {
        let pause = Pause {
            reason: PauseReason::EventLogUnavailable,
            length_ms: self.settings.log_retry_ms,
            until: now.plus_millis(self.settings.log_retry_ms),
        };
        match &mut self.log {
            Some(outage) => {
                outage.pause = pause;
                PauseNews::Extended(pause)
            }
            None => {
                self.log = Some(Outage {
                    since: now,
                    pause,
                    probing: false,
                });
                PauseNews::Began(pause)
            }
        }
    }

    /// The log recorded an append.
    pub fn log_recorded(&mut self) -> Option<PauseNews> {
        self.log.take().map(|o| PauseNews::Ended {
            reason: PauseReason::EventLogUnavailable,
            since: o.since,
        })
    }

    /// A recorded attempt result: a snapshot that could not be published
    /// pauses attempts (twice as long as last time while it lasts), a
    /// collected one ends the outage; anything else says nothing about the
    /// store. A failure that comes back while a pause holds is an attempt
    /// started before it: it changes nothing (only a probe's failure
    /// lengthens the pause).
    pub fn attempt_settled(&mut self, now: Timestamp, outcome: &Outcome) -> Option<PauseNews> {
        if let Some(o) = &mut self.snapshots {
            o.probing = false;
        }
        match outcome {
            Outcome::Failed {
                kind: FailureKind::PublishFailed,
                ..
            } => self.publish_failed(now),
            Outcome::Collected { .. } => self.snapshots.take().map(|o| PauseNews::Ended {
                reason: PauseReason::SnapshotsUnavailable,
                since: o.since,
            }),
            Outcome::Failed { .. } | Outcome::Skipped { .. } => None,
        }
    }

    fn publish_failed(&mut self, now: Timestamp) -> Option<PauseNews> {
        let s = self.settings;
        let length_ms = match &self.snapshots {
            Some(o) if now < o.pause.until => return None,
            Some(o) => o.pause.length_ms.saturating_mul(2),
            None => s.snapshot_first_ms,
        }
        .clamp(
            s.snapshot_first_ms.min(s.snapshot_max_ms),
            s.snapshot_max_ms,
        );
        let pause = Pause {
            reason: PauseReason::SnapshotsUnavailable,
            length_ms,
            until: now.plus_millis(length_ms),
        };
        Some(match &mut self.snapshots {
            Some(outage) => {
                outage.pause = pause;
                PauseNews::Extended(pause)
            }
            None => {
                self.snapshots = Some(Outage {
                    since: now,
                    pause,
                    probing: false,
                });
                PauseNews::Began(pause)
            }
        })
    }

    /// An attempt started: during a snapshot outage it is the probe.
    pub fn attempt_started(&mut self) {
        if let Some(o) = &mut self.snapshots {
            o.probing = true;
        }
    }

    /// Whether nothing may be recorded at `now` (the log's pause).
    pub fn inputs_paused(&self, now: Timestamp) -> bool {
        self.log.is_some_and(|o| now < o.pause.until)
    }

    /// Whether no attempt may start at `now`. The snapshot outage pauses
    /// until its pause ends; then one attempt probes the store, and no
    /// other starts until the probe's result is recorded.
    pub fn attempts_paused(&self, now: Timestamp) -> bool {
        self.inputs_paused(now)
            || self
                .snapshots
                .is_some_and(|o| o.probing || now < o.pause.until)
    }

    /// When the earliest pause in force ends, for the driver's sleep.
    pub fn next_end(&self, now: Timestamp) -> Option<Timestamp> {
        [self.log, self.snapshots]
            .into_iter()
            .flatten()
            .map(|o| o.pause.until)
            .filter(|t| *t > now)
            .min()
    }
}

/// The enrolment jitter: drawn from a generator the driver seeds (the
/// simulation from its seed, the daemon from its setting or the OS), so one
/// seed reproduces a run. The draw goes into `Enrolled`, so replay never
/// draws.
#[derive(Debug, Clone)]
pub struct Jitter {
    rng: ChaCha8Rng,
}

impl Jitter {
    /// Stream 1 of `ChaCha8Rng` seeded with `seed` (the simulation's
    /// stream for the daemon's draws).
    pub fn seeded(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(1);
        Jitter { rng }
    }

    /// The delay of a new device's first backup under `policy`, in ms.
    pub fn draw(&mut self, policy: &RetryPolicy) -> u64 {
        let (min, max) = policy.jitter_range_ms();
        if max > min {
            self.rng.random_range(min..=max)
        } else {
            min
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed() -> Outcome {
        Outcome::Failed {
            kind: FailureKind::PublishFailed,
            message: "disk full".into(),
            learned: Default::default(),
        }
    }

    #[test]
    fn a_snapshot_outage_doubles_its_pause_up_to_the_cap_and_ends_on_a_success() {
        let mut p = Pauses::new(PauseSettings {
            log_retry_ms: 1_000,
            snapshot_first_ms: 1_000,
            snapshot_max_ms: 8_000,
        });
        let mut lengths = Vec::new();
        let mut now = Timestamp(0);
        for _ in 0..5 {
            match p.attempt_settled(now, &failed()) {
                Some(PauseNews::Began(x) | PauseNews::Extended(x)) => {
                    assert!(p.attempts_paused(now));
                    assert!(!p.inputs_paused(now), "results are still recorded");
                    assert_eq!(p.next_end(now), Some(x.until));
                    lengths.push(x.length_ms);
                    now = x.until;
                    assert!(!p.attempts_paused(now), "the probe may start");
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(lengths, [1_000, 2_000, 4_000, 8_000, 8_000]);
        // An attempt started before the pause fails during it: no change.
        let before = p.next_end(Timestamp(0));
        assert_eq!(p.attempt_settled(Timestamp(now.0 - 1), &failed()), None);
        assert_eq!(p.next_end(Timestamp(0)), before);
        // The probe holds every other attempt back until it settles.
        p.attempt_started();
        assert!(p.attempts_paused(now));
        let ok = Outcome::Skipped {
            reason: crate::domain::SkipReason::Offline,
        };
        assert_eq!(p.attempt_settled(now, &ok), None);
        let collected = Outcome::Collected {
            sha256: String::new(),
            bytes: 1,
            host_key: String::new(),
            duration_ms: 1,
            routeros_version: None,
            stored_apart: None,
        };
        assert_eq!(
            p.attempt_settled(now, &collected),
            Some(PauseNews::Ended {
                reason: PauseReason::SnapshotsUnavailable,
                since: Timestamp(0)
            })
        );
    }

    #[test]
    fn a_log_outage_pauses_every_input_and_ends_on_a_recorded_append() {
        let mut p = Pauses::default();
        assert!(
            matches!(p.log_unavailable(Timestamp(10)), PauseNews::Began(x) if x.until == Timestamp(1_010))
        );
        assert!(p.inputs_paused(Timestamp(500)) && p.attempts_paused(Timestamp(500)));
        assert!(matches!(
            p.log_unavailable(Timestamp(1_010)),
            PauseNews::Extended(_)
        ));
        assert!(!p.inputs_paused(Timestamp(2_010)));
        assert!(matches!(
            p.log_recorded(),
            Some(PauseNews::Ended {
                since: Timestamp(10),
                ..
            })
        ));
        assert_eq!(p.log_recorded(), None);
    }

    #[test]
    fn one_seed_draws_one_jitter_sequence() {
        let policy = RetryPolicy::default();
        let draws = |seed| {
            let mut j = Jitter::seeded(seed);
            (0..5).map(|_| j.draw(&policy)).collect::<Vec<u64>>()
        };
        let (a, b) = (draws(3), draws(3));
        assert_ne!(a, draws(4));
        assert_eq!(a, b);
        let (min, max) = policy.jitter_range_ms();
        assert!(a.iter().all(|x| (min..=max).contains(x)));
    }
}
