//! A small reference model of the retry policy, written from the rules in
//! the issue rather than from `machine.rs`: the phase kind, the failure
//! count, the one deadline, the attempt in flight, the trusted key, and what
//! the runner must be told (collect, reply, trust, forget).

use confkeep::domain::{
    Event, FailureKind, Outcome, PhaseKind, RetryPolicy, SkipReason, TimerKind, Timestamp,
};

/// What the reference expects a step to ask of the runner.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The attempt a `Collect` starts.
    pub collect: Option<u64>,
    /// `(request, reply name)` for every `Reply`.
    pub replies: Vec<(String, &'static str)>,
    /// A `TrustHostKey` write-back.
    pub trust: Option<String>,
    /// A `ForgetHostKey`.
    pub forget: bool,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub phase: PhaseKind,
    pub failures: u32,
    pub deadline: Option<(TimerKind, Timestamp)>,
    /// The attempt in flight and the trigger waiting for it.
    pub running: Option<(u64, Option<String>)>,
    pub attempts: u64,
    pub trusted: Option<String>,
    pub policy: RetryPolicy,
    /// When the phase was entered (a shorter interval brings an idle
    /// device's next backup forward from there).
    since: Timestamp,
    /// The time of the event being applied.
    now: Timestamp,
}

impl Model {
    pub fn new() -> Model {
        Model {
            phase: PhaseKind::Unenrolled,
            failures: 0,
            deadline: None,
            running: None,
            attempts: 0,
            trusted: None,
            policy: RetryPolicy::default(),
            since: Timestamp(0),
            now: Timestamp(0),
        }
    }

    fn active(&self) -> bool {
        !matches!(self.phase, PhaseKind::Unenrolled | PhaseKind::Retired)
    }

    fn enter(&mut self, phase: PhaseKind, deadline: Option<(TimerKind, Timestamp)>) {
        self.phase = phase;
        self.deadline = deadline;
        self.since = self.now;
        if phase != PhaseKind::Running {
            self.running = None;
        }
    }

    fn start(&mut self, at: Timestamp, trigger: Option<String>, out: &mut Expected) {
        self.attempts += 1;
        let deadline =
            at.plus_secs(self.policy.command_timeout_secs + self.policy.deadline_grace_secs);
        self.enter(
            PhaseKind::Running,
            Some((TimerKind::AttemptDeadline, deadline)),
        );
        self.running = Some((self.attempts, trigger));
        out.collect = Some(self.attempts);
    }

    pub fn apply(&mut self, at: Timestamp, event: &Event) -> Expected {
        let mut out = Expected::default();
        self.now = at;
        match event {
            Event::Enrolled {
                jitter_ms, policy, ..
            } => {
                if policy.validate().is_ok() {
                    self.policy = policy.clone();
                }
                if !self.active() {
                    self.failures = 0;
                    self.enter(
                        PhaseKind::Jitter,
                        Some((TimerKind::Jitter, at.plus_millis(*jitter_ms))),
                    );
                }
            }
            Event::Retired => {
                if self.active() {
                    if let Some((_, Some(request))) = self.running.take() {
                        out.replies.push((request, "not_found"));
                    }
                    self.enter(PhaseKind::Retired, None);
                }
            }
            Event::TriggerRequested { request } => match self.phase {
                PhaseKind::Jitter | PhaseKind::Idle | PhaseKind::Backoff => {
                    self.start(at, Some(request.clone()), &mut out)
                }
                PhaseKind::Running => out.replies.push((request.clone(), "conflict")),
                PhaseKind::AuthBlocked | PhaseKind::HostKeyBlocked => {
                    out.replies.push((request.clone(), "blocked"))
                }
                PhaseKind::Unenrolled | PhaseKind::Retired => {
                    out.replies.push((request.clone(), "not_found"))
                }
            },
            Event::CredentialsUpdated => {
                if self.phase == PhaseKind::AuthBlocked {
                    self.failures = 0;
                    self.enter(PhaseKind::Idle, Some((TimerKind::Scheduled, at)));
                }
            }
            Event::HostKeyReset => {
                if self.active() {
                    self.trusted = None;
                    out.forget = true;
                    if self.phase == PhaseKind::HostKeyBlocked {
                        self.failures = 0;
                        self.enter(PhaseKind::Idle, Some((TimerKind::Scheduled, at)));
                    }
                }
            }
            Event::HostKeyAccepted { fingerprint } => {
                if self.active() {
                    self.trusted = Some(fingerprint.clone());
                    out.trust = Some(fingerprint.clone());
                    if self.phase == PhaseKind::HostKeyBlocked {
                        self.failures = 0;
                        self.enter(PhaseKind::Idle, Some((TimerKind::Scheduled, at)));
                    }
                }
            }
            Event::PolicyChanged { policy } => {
                if policy.validate().is_ok() {
                    self.policy = policy.clone();
                    if let (PhaseKind::Idle, Some((TimerKind::Scheduled, due))) =
                        (self.phase, self.deadline)
                    {
                        let sooner = self.since.plus_secs(policy.interval_secs);
                        self.deadline = Some((TimerKind::Scheduled, due.min(sooner)));
                    }
                }
            }
            Event::TagsChanged { .. } => {}
            Event::TimerFired { timer, due } => {
                if self.deadline == Some((*timer, *due)) {
                    if *timer == TimerKind::AttemptDeadline {
                        let abandoned = Outcome::Failed {
                            kind: FailureKind::Abandoned,
                            message: String::new(),
                            learned: Default::default(),
                        };
                        self.finish(at, &abandoned, &mut out);
                    } else {
                        self.start(at, None, &mut out);
                    }
                }
            }
            Event::AttemptFinished { attempt, outcome } => {
                if matches!(self.running, Some((a, _)) if a == *attempt) {
                    self.finish(at, outcome, &mut out);
                }
            }
        }
        out
    }

    fn finish(&mut self, at: Timestamp, outcome: &Outcome, out: &mut Expected) {
        let trigger = self.running.take().and_then(|(_, t)| t);
        let reply = match outcome {
            Outcome::Collected { host_key, .. } => match &self.trusted {
                Some(trusted) if trusted != host_key => {
                    self.failures += 1;
                    self.enter(PhaseKind::HostKeyBlocked, None);
                    "failed"
                }
                _ => {
                    if self.trusted.is_none() {
                        self.trusted = Some(host_key.clone());
                        out.trust = Some(host_key.clone());
                    }
                    self.failures = 0;
                    let next = at.plus_secs(self.policy.interval_secs);
                    self.enter(PhaseKind::Idle, Some((TimerKind::Scheduled, next)));
                    "success"
                }
            },
            Outcome::Skipped { reason } => {
                let delay = match reason {
                    SkipReason::Offline => self.policy.offline_recheck_secs,
                    SkipReason::LockHeld => self.policy.lock_held_retry_secs,
                };
                let until = at.plus_secs(delay);
                if self.failures > 0 {
                    self.enter(PhaseKind::Backoff, Some((TimerKind::Backoff, until)));
                } else {
                    self.enter(PhaseKind::Idle, Some((TimerKind::Scheduled, until)));
                }
                "skipped"
            }
            Outcome::Failed { kind, .. } => {
                self.failures += 1;
                match kind {
                    FailureKind::AuthFailed => self.enter(PhaseKind::AuthBlocked, None),
                    FailureKind::HostKeyMismatch { .. } => {
                        self.enter(PhaseKind::HostKeyBlocked, None)
                    }
                    _ => {
                        let ladder = &self.policy.backoff_secs;
                        let rung = ladder[(self.failures as usize).min(ladder.len()) - 1];
                        self.enter(
                            PhaseKind::Backoff,
                            Some((TimerKind::Backoff, at.plus_secs(rung))),
                        );
                    }
                }
                "failed"
            }
        };
        if let Some(request) = trigger {
            out.replies.push((request, reply));
        }
    }
}
