//! Folding the log into machines: what start-up, `confkeep replay` and the
//! benchmarks do with a replayed stream.
//!
//! One [`DeviceState`] per device, each envelope run through the pure
//! [`step`] in log order. The fold also checks what it can about the log
//! itself: per-device sequences without gaps, and (when asked) that today's
//! rules decide what was decided when the event was recorded (`after`).

use std::collections::BTreeMap;

use crate::domain::{After, DeviceId, DeviceState, Envelope, PhaseKind, step};

use super::GlobalSeq;

/// Something in the log that does not fold the way it was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub device: DeviceId,
    /// The envelope's per-device sequence.
    pub seq: u64,
    /// Its position in the log.
    pub global: GlobalSeq,
    pub kind: DifferenceKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DifferenceKind {
    /// Today's rules decide another phase or deadline than the one recorded.
    After { recorded: After, computed: After },
    /// The device's sequence jumps or repeats.
    SequenceGap { expected: u64 },
    /// A second fold of the same log decided differently (a non-pure step).
    NotDeterministic { first: After, second: After },
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "device {} sequence {} (log position {}): ",
            self.device, self.seq, self.global
        )?;
        match &self.kind {
            DifferenceKind::After { recorded, computed } => write!(
                f,
                "recorded {}, today's rules decide {}",
                describe(recorded),
                describe(computed)
            ),
            DifferenceKind::SequenceGap { expected } => {
                write!(f, "sequence gap: expected sequence {expected}")
            }
            DifferenceKind::NotDeterministic { first, second } => write!(
                f,
                "two folds disagree: {} then {}",
                describe(first),
                describe(second)
            ),
        }
    }
}

fn describe(after: &After) -> String {
    match after.deadline {
        Some((timer, at)) => format!("{} ({timer:?} at {at})", after.phase.name()),
        None => after.phase.name().to_owned(),
    }
}

/// The machines of every device, folded from the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fold {
    pub states: BTreeMap<DeviceId, DeviceState>,
    /// Envelopes folded.
    pub events: u64,
}

impl Fold {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fold one envelope; returns what it led to, and the differences found
    /// (compared with the recorded `after` when `verify`).
    pub fn apply(
        &mut self,
        global: GlobalSeq,
        env: &Envelope,
        verify: bool,
        differences: &mut Vec<Difference>,
    ) -> After {
        self.events += 1;
        // Looked up first: `entry` would clone the key for every event.
        let state = match self.states.get_mut(&env.device) {
            Some(state) => state,
            None => self
                .states
                .entry(env.device.clone())
                .or_insert_with(|| DeviceState::new(env.device.clone(), env.tenant.clone())),
        };
        if verify && env.seq != state.seq + 1 {
            differences.push(Difference {
                device: env.device.clone(),
                seq: env.seq,
                global,
                kind: DifferenceKind::SequenceGap {
                    expected: state.seq + 1,
                },
            });
        }
        let transition = step(state, env);
        *state = transition.state;
        let computed = state.after();
        if verify
            && let Some(recorded) = &env.after
            && *recorded != computed
        {
            differences.push(Difference {
                device: env.device.clone(),
                seq: env.seq,
                global,
                kind: DifferenceKind::After {
                    recorded: recorded.clone(),
                    computed: computed.clone(),
                },
            });
        }
        computed
    }

    /// Devices per phase, every phase listed (zero included), in order.
    pub fn phases(&self) -> Vec<(PhaseKind, usize)> {
        let mut counts: BTreeMap<PhaseKind, usize> =
            PhaseKind::ALL.iter().map(|p| (*p, 0)).collect();
        for state in self.states.values() {
            *counts.entry(state.phase.kind()).or_default() += 1;
        }
        counts.into_iter().collect()
    }
}

/// A plausible recorded history of one device, `events` envelopes long,
/// each stamped with the `after` the machine decided: enrolment, then the
/// machine's own timers, attempts that mostly succeed and sometimes time
/// out. For tests and benchmarks that need a realistic log without a fleet.
pub fn sample_history(
    device: &DeviceId,
    tenant: &crate::domain::TenantId,
    start: crate::domain::Timestamp,
    events: u64,
) -> Vec<Envelope> {
    use crate::domain::{Event, FailureKind, Outcome, Phase, RetryPolicy, SCHEMA_VERSION};

    let mut state = DeviceState::new(device.clone(), tenant.clone());
    let mut out = Vec::with_capacity(events as usize);
    let mut at = start;
    for seq in 1..=events {
        let event = match (&state.phase, state.deadline()) {
            (
                Phase::Running {
                    attempt, started, ..
                },
                _,
            ) => {
                at = started.plus_secs(4);
                let outcome = if (seq / 3) % 5 == 4 {
                    Outcome::Failed {
                        kind: FailureKind::Timeout,
                        message: "no answer within 60 s".into(),
                        learned: Default::default(),
                    }
                } else {
                    Outcome::Collected {
                        sha256: format!("{:064x}", seq.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                        bytes: 48_213,
                        host_key: "SHA256:4sBn2nGq3LJH0DvB8y3Eq3r1d7wJ0Z3x1m1F3xXkM2E".into(),
                        duration_ms: 3_912,
                        routeros_version: Some("7.15.3".into()),
                        stored_apart: None,
                    }
                };
                Event::AttemptFinished {
                    attempt: *attempt,
                    outcome,
                }
            }
            (Phase::Unenrolled, _) | (_, None) => Event::Enrolled {
                tenant: tenant.clone(),
                host: format!("{device}.mgmt.example.net"),
                port: 22,
                jitter_ms: 30_000 + (seq * 7_919) % 270_000,
                policy: RetryPolicy::default(),
                tags: Vec::new(),
            },
            (_, Some((timer, due))) => {
                at = due;
                Event::TimerFired { timer, due }
            }
        };
        let env = Envelope {
            schema: SCHEMA_VERSION,
            device: device.clone(),
            tenant: tenant.clone(),
            seq,
            at,
            node: "backup-1".into(),
            correlation: None,
            event,
            after: None,
        };
        state = step(&state, &env).state;
        out.push(Envelope {
            after: Some(state.after()),
            ..env
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{TenantId, Timestamp};

    #[test]
    fn a_sample_history_verifies_and_a_changed_decision_is_found() {
        let d = DeviceId::parse("r1").unwrap();
        let t = TenantId::parse("acme").unwrap();
        let mut history = sample_history(&d, &t, Timestamp(1_700_000_000_000), 40);
        let mut fold = Fold::new();
        let mut diffs = Vec::new();
        for (i, env) in history.iter().enumerate() {
            fold.apply(i as u64 + 1, env, true, &mut diffs);
        }
        assert_eq!(diffs, vec![]);
        assert_eq!(fold.events, 40);
        assert_eq!(fold.phases().iter().map(|(_, n)| n).sum::<usize>(), 1);
        // Pretend an older release decided otherwise at sequence 5.
        history[4].after = Some(After {
            phase: PhaseKind::AuthBlocked,
            deadline: None,
        });
        history.remove(9);
        let mut fold = Fold::new();
        let mut diffs = Vec::new();
        for (i, env) in history.iter().enumerate() {
            fold.apply(i as u64 + 1, env, true, &mut diffs);
        }
        assert!(matches!(diffs[0].kind, DifferenceKind::After { .. }));
        assert_eq!(diffs[0].seq, 5);
        assert!(
            diffs.iter().any(
                |d| matches!(d.kind, DifferenceKind::SequenceGap { expected: 10 }) && d.seq == 11
            )
        );
        assert!(diffs[0].to_string().contains("device r1 sequence 5"));
    }
}
