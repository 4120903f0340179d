//! The system under test driven like the runner drives it: each action
//! becomes one recorded envelope (sequence + 1, time stamped once), folded
//! with `step`; timers are armed from `deadline()` and results answer the
//! attempt a `Collect` started.

use confkeep::domain::{
    DeviceId, DeviceState, Envelope, Event, Outcome, Phase, RetryPolicy, SCHEMA_VERSION, TenantId,
    TimerKind, Timestamp, Transition, step,
};
use proptest::test_runner::TestCaseError;

use crate::strategies::{Action, KEYS};

pub const T0: u64 = 1_700_000_000_000;
pub const HOSTS: [&str; 3] = ["10.0.0.1", "10.0.0.2", "router.example.net"];

pub fn device() -> DeviceId {
    DeviceId::parse("edge-7").unwrap()
}

pub fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

pub fn fresh() -> DeviceState {
    DeviceState::new(device(), tenant())
}

pub fn envelope(seq: u64, at: u64, event: Event) -> Envelope {
    Envelope {
        schema: SCHEMA_VERSION,
        device: device(),
        tenant: tenant(),
        seq,
        at: Timestamp(at),
        node: "prop".into(),
        correlation: None,
        event,
        after: None,
    }
}

/// A device's recorded life so far.
pub struct Run {
    pub state: DeviceState,
    pub now: u64,
    pub log: Vec<Envelope>,
    requests: u64,
}

/// One step as the checks see it.
pub struct Step<'a> {
    pub before: &'a DeviceState,
    pub envelope: &'a Envelope,
    pub transition: &'a Transition,
}

pub fn running_attempt(state: &DeviceState) -> Option<u64> {
    match &state.phase {
        Phase::Running { attempt, .. } => Some(*attempt),
        _ => None,
    }
}

impl Run {
    pub fn new() -> Run {
        Run {
            state: fresh(),
            now: T0,
            log: Vec::new(),
            requests: 0,
        }
    }

    /// The event an action stands for, given the current state.
    pub fn event_for(&mut self, action: &Action) -> Option<Event> {
        Some(match action {
            Action::Wait(ms) => {
                self.now += ms;
                return None;
            }
            Action::FireDeadline => match self.state.deadline() {
                Some((timer, due)) => {
                    self.now = self.now.max(due.0);
                    Event::TimerFired { timer, due }
                }
                None => Event::TimerFired {
                    timer: TimerKind::Scheduled,
                    due: Timestamp(self.now),
                },
            },
            Action::StaleTimer { kind, offset } => {
                let (current, due) = self
                    .state
                    .deadline()
                    .unwrap_or((TimerKind::Scheduled, Timestamp(self.now)));
                let offset = if *kind == current && *offset == 0 {
                    1
                } else {
                    *offset
                };
                Event::TimerFired {
                    timer: *kind,
                    due: Timestamp(due.0.saturating_add_signed(offset)),
                }
            }
            Action::Finish(outcome) => {
                self.now += 1_000;
                Event::AttemptFinished {
                    attempt: running_attempt(&self.state).unwrap_or(0),
                    outcome: outcome.clone(),
                }
            }
            Action::FinishOther { delta, outcome } => {
                let current = running_attempt(&self.state).unwrap_or(self.state.attempts);
                Event::AttemptFinished {
                    attempt: current.wrapping_add(*delta),
                    outcome: outcome.clone(),
                }
            }
            Action::Trigger => {
                self.requests += 1;
                Event::TriggerRequested {
                    request: format!("req-{}", self.requests),
                }
            }
            Action::CredentialsUpdated => Event::CredentialsUpdated,
            Action::HostKeyReset => Event::HostKeyReset,
            Action::HostKeyAccepted(k) => Event::HostKeyAccepted {
                fingerprint: KEYS[*k].into(),
            },
            Action::PolicyChanged(policy) => Event::PolicyChanged {
                policy: policy.clone(),
            },
            Action::Retired => Event::Retired,
            Action::Enrolled { host, jitter_ms } => Event::Enrolled {
                tenant: tenant(),
                host: HOSTS[*host as usize].into(),
                port: 22,
                jitter_ms: *jitter_ms,
                policy: RetryPolicy::default(),
                tags: Vec::new(),
            },
        })
    }

    /// Record `event` now, fold it, and show the step to `check`.
    pub fn record(
        &mut self,
        event: Event,
        check: &mut impl FnMut(Step<'_>) -> Result<(), TestCaseError>,
    ) -> Result<Transition, TestCaseError> {
        let mut env = envelope(self.state.seq + 1, self.now, event);
        let transition = step(&self.state, &env);
        env.after = Some(transition.state.after());
        check(Step {
            before: &self.state,
            envelope: &env,
            transition: &transition,
        })?;
        self.state = transition.state.clone();
        self.log.push(env);
        Ok(transition)
    }

    /// Record `event` when only the checks look at the step.
    pub fn push(
        &mut self,
        event: Event,
        check: &mut impl FnMut(Step<'_>) -> Result<(), TestCaseError>,
    ) -> Result<(), TestCaseError> {
        self.record(event, check).map(drop)
    }

    /// Play every action, checking each step.
    pub fn play(
        actions: &[Action],
        mut check: impl FnMut(Step<'_>) -> Result<(), TestCaseError>,
    ) -> Result<Run, TestCaseError> {
        let mut run = Run::new();
        for action in actions {
            if let Some(event) = run.event_for(action) {
                run.push(event, &mut check)?;
            }
        }
        Ok(run)
    }

    /// What the runner does at the end: let the attempt in flight finish
    /// (its result, or its deadline when `abandon`).
    pub fn settle(
        &mut self,
        abandon: bool,
        check: &mut impl FnMut(Step<'_>) -> Result<(), TestCaseError>,
    ) -> Result<(), TestCaseError> {
        let Some(attempt) = running_attempt(&self.state) else {
            return Ok(());
        };
        let event = if abandon {
            let (timer, due) = self.state.deadline().expect("running has a deadline");
            self.now = self.now.max(due.0);
            Event::TimerFired { timer, due }
        } else {
            self.now += 1_000;
            Event::AttemptFinished {
                attempt,
                outcome: Outcome::Skipped {
                    reason: confkeep::domain::SkipReason::Offline,
                },
            }
        };
        self.push(event, check)
    }
}

/// Fold a log from a fresh state.
pub fn fold(log: &[Envelope]) -> DeviceState {
    log.iter()
        .fold(fresh(), |state, env| step(&state, env).state)
}
