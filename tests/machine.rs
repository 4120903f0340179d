//! The rules `step` must keep, one test each, written given / when / then:
//! given these envelopes, when this one arrives, then this state and these
//! effects. Pure: no clock, no IO, times are milliseconds chosen here.

use confkeep::domain::{
    AttemptRequest, DeviceId, DeviceState, Disposition, Effect, Envelope, Event, FailureKind,
    IgnoreReason, Outcome, Phase, PhaseKind, RetryPolicy, SCHEMA_VERSION, SkipReason, TenantId,
    TimerKind, Timestamp, Transition, TriggerReply, step,
};

// === the harness ===

/// Enrolment time of every story below.
const T0: u64 = 1_700_000_000_000;
/// Enrolment jitter of every story below (90 s).
const JITTER_MS: u64 = 90_000;
const KEY_A: &str = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const KEY_B: &str = "SHA256:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const HASH_1: &str = "1111111111111111111111111111111111111111111111111111111111111111";

fn secs(s: u64) -> u64 {
    s * 1000
}

/// A transition already folded into the story: inspecting it is optional
/// (unlike [`Transition`], which is `#[must_use]`).
struct Then {
    state: DeviceState,
    effects: Vec<Effect>,
    disposition: Disposition,
}

impl From<Transition> for Then {
    fn from(t: Transition) -> Self {
        Then {
            state: t.state,
            effects: t.effects,
            disposition: t.disposition,
        }
    }
}

/// A device's story: the state folded so far, and the clock of the story.
struct Story {
    state: DeviceState,
    now: u64,
}

fn device() -> DeviceId {
    DeviceId::parse("core-1").unwrap()
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn envelope(seq: u64, at: u64, event: Event) -> Envelope {
    Envelope {
        schema: SCHEMA_VERSION,
        device: device(),
        tenant: tenant(),
        seq,
        at: Timestamp(at),
        node: "test-node".into(),
        correlation: None,
        event,
        after: None,
    }
}

fn enrolled(host: &str) -> Event {
    Event::Enrolled {
        tenant: tenant(),
        host: host.into(),
        port: 22,
        jitter_ms: JITTER_MS,
        policy: RetryPolicy::default(),
        tags: Vec::new(),
    }
}

fn collected(key: &str) -> Outcome {
    Outcome::Collected {
        sha256: HASH_1.into(),
        bytes: 1234,
        host_key: key.into(),
        duration_ms: 800,
        routeros_version: Some("7.15.3".into()),
        stored_apart: None,
    }
}

fn failed(kind: FailureKind) -> Outcome {
    Outcome::Failed {
        kind,
        message: "it went wrong".into(),
        learned: Default::default(),
    }
}

fn skipped(reason: SkipReason) -> Outcome {
    Outcome::Skipped { reason }
}

fn trigger(request: &str) -> Event {
    Event::TriggerRequested {
        request: request.into(),
    }
}

const TRANSIENT: [FailureKind; 9] = [
    FailureKind::Timeout,
    FailureKind::ConnectionRefused,
    FailureKind::Unreachable,
    FailureKind::Truncated,
    FailureKind::InvalidOutput,
    FailureKind::TooLarge,
    FailureKind::PublishFailed,
    FailureKind::Abandoned,
    FailureKind::Other,
];

impl Story {
    /// Given: a device that was just enrolled at `T0`.
    fn enrolled() -> Story {
        let mut story = Story {
            state: DeviceState::new(device(), tenant()),
            now: T0,
        };
        story.then_apply(enrolled("10.0.0.1"));
        story
    }

    /// Given: an enrolled device whose first attempt is running.
    fn running() -> Story {
        let mut story = Story::enrolled();
        story.fire_deadline();
        story
    }

    /// Given: a device whose first backup succeeded (host key A trusted).
    fn idle() -> Story {
        let mut story = Story::running();
        story.finish(collected(KEY_A));
        story
    }

    /// Let `ms` milliseconds pass.
    fn wait(&mut self, ms: u64) -> &mut Self {
        self.now += ms;
        self
    }

    /// When this event arrives now: the transition (the state is not kept).
    fn when(&self, event: Event) -> Transition {
        step(&self.state, &envelope(self.state.seq + 1, self.now, event))
    }

    /// Fold an event into the story and return its transition.
    fn then_apply(&mut self, event: Event) -> Then {
        let transition = self.when(event);
        self.state = transition.state.clone();
        transition.into()
    }

    /// The current deadline's timer fires on time.
    fn fire_deadline(&mut self) -> Then {
        let (timer, due) = self.state.deadline().expect("the state has a deadline");
        self.now = self.now.max(due.0);
        self.then_apply(Event::TimerFired { timer, due })
    }

    /// The running attempt ends with `outcome`, 1 s later.
    fn finish(&mut self, outcome: Outcome) -> Then {
        let attempt = running_attempt(&self.state);
        self.wait(1000);
        self.then_apply(Event::AttemptFinished { attempt, outcome })
    }
}

fn running_attempt(state: &DeviceState) -> u64 {
    match &state.phase {
        Phase::Running { attempt, .. } => *attempt,
        other => panic!("expected a running attempt, found {other:?}"),
    }
}

fn collects(effects: &[Effect]) -> Vec<&Effect> {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::Collect(_)))
        .collect()
}

fn replies(effects: &[Effect]) -> Vec<(String, TriggerReply)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Reply { request, reply } => Some((request.clone(), reply.clone())),
            _ => None,
        })
        .collect()
}

/// Then: the event was recorded and changed nothing but the sequence.
fn assert_noop(before: &DeviceState, t: &Transition) {
    let mut expected = before.clone();
    expected.seq = t.state.seq;
    assert_eq!(t.state, expected, "a no-op changed the state");
    assert!(t.effects.is_empty(), "a no-op asked for {:?}", t.effects);
    assert_eq!(
        t.state.seq,
        before.seq + 1,
        "the sequence is still recorded"
    );
}

// === rule 1: transient failures back off on the ladder; success resets ===

#[test]
fn every_transient_failure_enters_backoff_on_the_first_rung() {
    for kind in TRANSIENT {
        let mut story = Story::running();
        let t = story.finish(failed(kind.clone()));
        let at = Timestamp(story.now);
        assert_eq!(
            t.state.phase,
            Phase::Backoff {
                until: at.plus_secs(300),
                failures: 1
            },
            "{kind:?}"
        );
        assert_eq!(t.state.failures, 1, "{kind:?}");
        assert_eq!(t.state.last_failure.as_ref().unwrap().kind, kind);
        assert_eq!(
            t.state.deadline(),
            Some((TimerKind::Backoff, at.plus_secs(300)))
        );
        assert!(t.effects.is_empty(), "{kind:?}: {:?}", t.effects);
        assert_eq!(t.disposition, Disposition::Applied);
    }
}

#[test]
fn consecutive_failures_climb_the_ladder_to_its_cap() {
    let mut story = Story::running();
    for (n, expected_secs) in [(1, 300), (2, 900), (3, 3_600), (4, 3_600), (5, 3_600)] {
        let t = story.finish(failed(FailureKind::Timeout));
        let at = Timestamp(story.now);
        assert_eq!(
            t.state.phase,
            Phase::Backoff {
                until: at.plus_secs(expected_secs),
                failures: n
            },
            "after {n} failures"
        );
        // Then the backoff timer leads to a new attempt.
        let t = story.fire_deadline();
        assert_eq!(t.state.phase.kind(), PhaseKind::Running);
        assert_eq!(collects(&t.effects).len(), 1);
        assert_eq!(running_attempt(&t.state), u64::from(n) + 1);
    }
}

#[test]
fn the_backoff_timer_starts_a_new_attempt_with_the_trusted_key() {
    let mut story = Story::idle();
    story.fire_deadline();
    story.finish(failed(FailureKind::Unreachable));
    let t = story.fire_deadline();
    assert_eq!(
        t.effects,
        vec![Effect::Collect(AttemptRequest {
            device: device(),
            tenant: tenant(),
            attempt: 3,
            host: "10.0.0.1".into(),
            port: 22,
            trusted_host_key: Some(KEY_A.into()),
            routeros_major: Some(7),
            timeout_secs: 60,
        })]
    );
    let at = Timestamp(story.now);
    assert_eq!(
        t.state.deadline(),
        Some((TimerKind::AttemptDeadline, at.plus_secs(90)))
    );
}

#[test]
fn success_resets_the_count_and_schedules_one_interval_later() {
    let mut story = Story::running();
    story.finish(failed(FailureKind::Timeout));
    story.fire_deadline();
    story.finish(failed(FailureKind::Timeout));
    story.fire_deadline();
    assert_eq!(story.state.failures, 2);
    let t = story.finish(collected(KEY_A));
    let at = Timestamp(story.now);
    assert_eq!(
        t.state.phase,
        Phase::Idle {
            next_due: at.plus_secs(21_600)
        }
    );
    assert_eq!(t.state.failures, 0);
    assert_eq!(t.state.last_success, Some(at));
    assert_eq!(t.state.last_hash.as_deref(), Some(HASH_1));
    assert_eq!(
        t.state.deadline(),
        Some((TimerKind::Scheduled, at.plus_secs(21_600)))
    );
}

#[test]
fn the_scheduled_timer_starts_the_next_backup() {
    let mut story = Story::idle();
    let t = story.fire_deadline();
    assert_eq!(t.state.phase.kind(), PhaseKind::Running);
    assert_eq!(collects(&t.effects).len(), 1);
    assert_eq!(t.state.last_attempt, Some(Timestamp(story.now)));
}

#[test]
fn the_jitter_timer_starts_the_first_backup() {
    let story = Story::enrolled();
    assert_eq!(
        story.state.phase,
        Phase::Jitter {
            until: Timestamp(T0 + JITTER_MS)
        }
    );
    let mut story = story;
    let t = story.fire_deadline();
    assert_eq!(running_attempt(&t.state), 1);
    assert_eq!(
        collects(&t.effects),
        vec![&Effect::Collect(AttemptRequest {
            device: device(),
            tenant: tenant(),
            attempt: 1,
            host: "10.0.0.1".into(),
            port: 22,
            trusted_host_key: None,
            routeros_major: None,
            timeout_secs: 60,
        })]
    );
}

// === rule 2: blocked devices never collect until an operator acts ===

#[test]
fn an_authentication_failure_blocks_the_device() {
    let mut story = Story::running();
    let t = story.finish(failed(FailureKind::AuthFailed));
    assert_eq!(
        t.state.phase,
        Phase::AuthBlocked {
            since: Timestamp(story.now)
        }
    );
    assert_eq!(t.state.deadline(), None);
    assert!(t.effects.is_empty());
}

#[test]
fn a_host_key_mismatch_blocks_with_expected_and_presented() {
    let mut story = Story::idle();
    story.fire_deadline();
    let t = story.finish(failed(FailureKind::HostKeyMismatch {
        presented: KEY_B.into(),
    }));
    assert_eq!(
        t.state.phase,
        Phase::HostKeyBlocked {
            since: Timestamp(story.now),
            expected: KEY_A.into(),
            presented: KEY_B.into(),
        }
    );
    assert_eq!(t.state.deadline(), None);
}

/// Every input but the one that unblocks, thrown at a blocked device.
fn everything_but_the_unblock(state: &DeviceState) -> Vec<Event> {
    let mut events = vec![
        trigger("r-blocked"),
        Event::AttemptFinished {
            attempt: state.attempts,
            outcome: collected(KEY_A),
        },
        Event::AttemptFinished {
            attempt: state.attempts + 1,
            outcome: collected(KEY_A),
        },
        Event::PolicyChanged {
            policy: RetryPolicy {
                interval_secs: 60,
                ..RetryPolicy::default()
            },
        },
        enrolled("10.0.0.2"),
    ];
    for timer in [
        TimerKind::Jitter,
        TimerKind::Scheduled,
        TimerKind::Backoff,
        TimerKind::AttemptDeadline,
    ] {
        for due in [state.since.0, state.since.0 + 1, T0, u64::MAX] {
            events.push(Event::TimerFired {
                timer,
                due: Timestamp(due),
            });
        }
    }
    events
}

#[test]
fn while_auth_blocked_nothing_collects_and_only_credentials_updated_leaves() {
    let mut story = Story::running();
    story.finish(failed(FailureKind::AuthFailed));
    let mut events = everything_but_the_unblock(&story.state);
    events.push(Event::HostKeyReset);
    events.push(Event::HostKeyAccepted {
        fingerprint: KEY_B.into(),
    });
    for event in events {
        story.wait(60_000);
        let t = story.then_apply(event.clone());
        assert!(collects(&t.effects).is_empty(), "{event:?} collected");
        assert_eq!(t.state.phase.kind(), PhaseKind::AuthBlocked, "{event:?}");
    }
    // Then only CredentialsUpdated leaves, with a prompt new attempt.
    story.wait(60_000);
    let t = story.then_apply(Event::CredentialsUpdated);
    let now = Timestamp(story.now);
    assert_eq!(t.state.phase, Phase::Idle { next_due: now });
    assert_eq!(t.state.failures, 0);
    assert_eq!(t.state.deadline(), Some((TimerKind::Scheduled, now)));
    let t = story.fire_deadline();
    assert_eq!(Timestamp(story.now), now, "the new attempt is immediate");
    assert_eq!(collects(&t.effects).len(), 1);
}

#[test]
fn a_trigger_while_auth_blocked_is_answered_blocked_with_the_reason() {
    let mut story = Story::running();
    story.finish(failed(FailureKind::AuthFailed));
    let t = story.when(trigger("r-1"));
    let replies = replies(&t.effects);
    assert_eq!(replies.len(), 1);
    let (request, reply) = &replies[0];
    assert_eq!(request, "r-1");
    let TriggerReply::Blocked { phase, reason } = reply else {
        panic!("expected blocked, got {reply:?}");
    };
    assert_eq!(*phase, PhaseKind::AuthBlocked);
    assert!(reason.contains("credentials"), "{reason}");
    assert_eq!(t.disposition, Disposition::Refused);
}

#[test]
fn while_host_key_blocked_nothing_collects_and_reset_leaves_trusting_the_next_key() {
    let mut story = Story::idle();
    story.fire_deadline();
    story.finish(failed(FailureKind::HostKeyMismatch {
        presented: KEY_B.into(),
    }));
    let mut events = everything_but_the_unblock(&story.state);
    events.push(Event::CredentialsUpdated);
    for event in events {
        story.wait(60_000);
        let t = story.then_apply(event.clone());
        assert!(collects(&t.effects).is_empty(), "{event:?} collected");
        assert_eq!(t.state.phase.kind(), PhaseKind::HostKeyBlocked, "{event:?}");
    }
    let t = story.when(trigger("r-2"));
    assert!(matches!(
        &replies(&t.effects)[..],
        [(_, TriggerReply::Blocked { phase: PhaseKind::HostKeyBlocked, reason })] if reason.contains(KEY_B)
    ));

    story.wait(1000);
    let t = story.then_apply(Event::HostKeyReset);
    assert_eq!(t.effects, vec![Effect::ForgetHostKey]);
    assert_eq!(t.state.trusted_host_key, None);
    assert_eq!(
        t.state.phase,
        Phase::Idle {
            next_due: Timestamp(story.now)
        }
    );
    let t = story.fire_deadline();
    assert!(matches!(
        &collects(&t.effects)[..],
        [Effect::Collect(AttemptRequest {
            trusted_host_key: None,
            ..
        })]
    ));
    // Then the next collection trusts what it is shown.
    let t = story.finish(collected(KEY_B));
    assert_eq!(
        t.effects,
        vec![Effect::TrustHostKey {
            fingerprint: KEY_B.into(),
            actor: confkeep::domain::TrustActor::FirstUse,
        }]
    );
    assert_eq!(t.state.trusted_host_key.as_deref(), Some(KEY_B));
}

#[test]
fn host_key_accepted_leaves_the_block_trusting_that_key() {
    let mut story = Story::idle();
    story.fire_deadline();
    story.finish(failed(FailureKind::HostKeyMismatch {
        presented: KEY_B.into(),
    }));
    story.wait(1000);
    let t = story.then_apply(Event::HostKeyAccepted {
        fingerprint: KEY_B.into(),
    });
    assert_eq!(
        t.effects,
        vec![Effect::TrustHostKey {
            fingerprint: KEY_B.into(),
            actor: confkeep::domain::TrustActor::Operator,
        }]
    );
    assert_eq!(
        t.state.phase,
        Phase::Idle {
            next_due: Timestamp(story.now)
        }
    );
    assert_eq!(t.state.failures, 0);
    let t = story.fire_deadline();
    assert!(matches!(
        &collects(&t.effects)[..],
        [Effect::Collect(AttemptRequest { trusted_host_key: Some(k), .. })] if k == KEY_B
    ));
}

// === rule 3: trust on first use ===

#[test]
fn the_first_collection_trusts_the_presented_key_and_writes_it_back() {
    let mut story = Story::running();
    assert_eq!(story.state.trusted_host_key, None);
    let t = story.finish(collected(KEY_A));
    assert_eq!(
        t.effects,
        vec![Effect::TrustHostKey {
            fingerprint: KEY_A.into(),
            actor: confkeep::domain::TrustActor::FirstUse,
        }]
    );
    assert_eq!(t.state.trusted_host_key.as_deref(), Some(KEY_A));
    // A second collection with the same key trusts nothing new: it says
    // the key was verified (the platform's `ssh_host_key_last_verified`).
    story.fire_deadline();
    let t = story.finish(collected(KEY_A));
    assert_eq!(
        t.effects,
        vec![Effect::HostKeyVerified {
            fingerprint: KEY_A.into()
        }]
    );
}

#[test]
fn a_later_collection_presenting_another_key_is_a_mismatch() {
    let mut story = Story::idle();
    story.fire_deadline();
    let t = story.finish(collected(KEY_B));
    assert_eq!(
        t.state.phase,
        Phase::HostKeyBlocked {
            since: Timestamp(story.now),
            expected: KEY_A.into(),
            presented: KEY_B.into(),
        }
    );
    assert_eq!(t.state.trusted_host_key.as_deref(), Some(KEY_A));
    assert!(t.effects.is_empty(), "nothing trusted: {:?}", t.effects);
    assert!(matches!(
        t.state.last_failure.as_ref().unwrap().kind,
        FailureKind::HostKeyMismatch { .. }
    ));
    assert_ne!(t.state.last_hash, None, "the earlier hash stays");
}

// === rule 4: skips are not failures ===

#[test]
fn an_offline_skip_rechecks_later_without_counting_a_failure() {
    let mut story = Story::idle();
    story.fire_deadline();
    let t = story.finish(skipped(SkipReason::Offline));
    let at = Timestamp(story.now);
    assert_eq!(t.state.failures, 0);
    assert_eq!(
        t.state.deadline(),
        Some((TimerKind::Scheduled, at.plus_secs(900)))
    );
    assert_eq!(t.state.last_failure, None);
}

#[test]
fn a_lock_held_skip_retries_later_without_counting_a_failure() {
    let mut story = Story::idle();
    story.fire_deadline();
    let t = story.finish(skipped(SkipReason::LockHeld));
    let at = Timestamp(story.now);
    assert_eq!(t.state.failures, 0);
    assert_eq!(
        t.state.deadline(),
        Some((TimerKind::Scheduled, at.plus_secs(300)))
    );
}

#[test]
fn a_skip_during_a_failure_streak_keeps_the_count() {
    let mut story = Story::running();
    story.finish(failed(FailureKind::Timeout));
    story.fire_deadline();
    story.finish(failed(FailureKind::Timeout));
    story.fire_deadline();
    for (reason, delay) in [(SkipReason::Offline, 900), (SkipReason::LockHeld, 300)] {
        let t = story.finish(skipped(reason));
        let at = Timestamp(story.now);
        assert_eq!(
            t.state.phase,
            Phase::Backoff {
                until: at.plus_secs(delay),
                failures: 2
            },
            "{reason:?}"
        );
        assert_eq!(t.state.failures, 2);
        story.fire_deadline();
    }
    // The next failure is the third of the streak.
    let t = story.finish(failed(FailureKind::Timeout));
    assert_eq!(t.state.failures, 3);
}

// === rule 5: manual triggers ===

#[test]
fn a_trigger_starts_an_attempt_at_once_from_jitter_idle_or_backoff() {
    let jitter = Story::enrolled();
    let idle = Story::idle();
    let mut backoff = Story::running();
    backoff.finish(failed(FailureKind::Timeout));
    for (name, story) in [("jitter", jitter), ("idle", idle), ("backoff", backoff)] {
        let t = story.when(trigger("r-now"));
        assert_eq!(collects(&t.effects).len(), 1, "{name}");
        assert!(replies(&t.effects).is_empty(), "{name}: answered later");
        match &t.state.phase {
            Phase::Running {
                started, trigger, ..
            } => {
                assert_eq!(*started, Timestamp(story.now), "{name}");
                assert_eq!(trigger.as_deref(), Some("r-now"), "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn a_triggered_attempt_answers_with_its_result() {
    let cases = [
        (collected(KEY_A), "success"),
        (failed(FailureKind::Timeout), "failed"),
        (failed(FailureKind::AuthFailed), "failed"),
        (skipped(SkipReason::Offline), "skipped"),
    ];
    for (outcome, expected) in cases {
        let mut story = Story::enrolled();
        story.then_apply(trigger("r-9"));
        let t = story.finish(outcome.clone());
        let replies = replies(&t.effects);
        assert_eq!(replies.len(), 1, "{outcome:?}");
        assert_eq!(replies[0].0, "r-9");
        assert_eq!(replies[0].1.name(), expected, "{outcome:?}");
    }
    let mut story = Story::enrolled();
    story.then_apply(trigger("r-9"));
    let t = story.finish(collected(KEY_A));
    assert!(replies(&t.effects).contains(&(
        "r-9".into(),
        TriggerReply::Success {
            sha256: HASH_1.into()
        }
    )));
}

#[test]
fn a_scheduled_attempt_answers_no_one() {
    let mut story = Story::running();
    let t = story.finish(collected(KEY_A));
    assert!(replies(&t.effects).is_empty());
}

#[test]
fn a_trigger_while_running_is_a_conflict_and_starts_nothing() {
    let story = Story::running();
    let t = story.when(trigger("r-2"));
    assert_eq!(
        t.effects,
        vec![Effect::Reply {
            request: "r-2".into(),
            reply: TriggerReply::Conflict { attempt: 1 }
        }]
    );
    assert_eq!(t.disposition, Disposition::Refused);
    assert_eq!(t.state.phase, story.state.phase);
}

#[test]
fn a_trigger_for_a_retired_or_unknown_device_is_not_found() {
    let unknown = Story {
        state: DeviceState::new(device(), tenant()),
        now: T0,
    };
    let mut retired = Story::idle();
    retired.then_apply(Event::Retired);
    for (name, story) in [("unknown", unknown), ("retired", retired)] {
        let t = story.when(trigger("r-3"));
        assert_eq!(
            t.effects,
            vec![Effect::Reply {
                request: "r-3".into(),
                reply: TriggerReply::NotFound
            }],
            "{name}"
        );
        assert_eq!(t.state.phase, story.state.phase, "{name}");
    }
}

#[test]
fn a_triggered_attempt_that_is_abandoned_answers_failed() {
    let mut story = Story::enrolled();
    story.then_apply(trigger("r-4"));
    let t = story.fire_deadline();
    assert!(matches!(
        &replies(&t.effects)[..],
        [(r, TriggerReply::Failed { kind: FailureKind::Abandoned, .. })] if r == "r-4"
    ));
}

#[test]
fn retiring_a_device_during_a_triggered_attempt_answers_not_found() {
    let mut story = Story::enrolled();
    story.then_apply(trigger("r-5"));
    let t = story.then_apply(Event::Retired);
    assert_eq!(
        replies(&t.effects),
        vec![("r-5".into(), TriggerReply::NotFound)]
    );
    // The late result answers no one a second time.
    let t = story.then_apply(Event::AttemptFinished {
        attempt: 1,
        outcome: collected(KEY_A),
    });
    assert!(t.effects.is_empty());
}

// === rule 6: one attempt in flight; stale inputs are no-ops ===

#[test]
fn a_result_for_another_attempt_is_a_recorded_noop() {
    let mut story = Story::idle();
    story.fire_deadline();
    let current = running_attempt(&story.state);
    for attempt in [0, current - 1, current + 1, u64::MAX] {
        let t = story.when(Event::AttemptFinished {
            attempt,
            outcome: failed(FailureKind::AuthFailed),
        });
        assert_noop(&story.state, &t);
        assert_eq!(
            t.disposition,
            Disposition::Ignored(IgnoreReason::NotCurrentAttempt)
        );
    }
}

#[test]
fn a_result_while_nothing_runs_is_a_recorded_noop() {
    let story = Story::idle();
    let t = story.when(Event::AttemptFinished {
        attempt: 1,
        outcome: collected(KEY_B),
    });
    assert_noop(&story.state, &t);
}

#[test]
fn a_timer_that_is_not_the_current_deadline_is_a_recorded_noop() {
    for story in [Story::enrolled(), Story::running(), Story::idle()] {
        let (kind, due) = story.state.deadline().unwrap();
        let mut stale = vec![
            (kind, Timestamp(due.0 - 1)),
            (kind, Timestamp(due.0 + 1)),
            (kind, Timestamp::ZERO),
        ];
        for other in [
            TimerKind::Jitter,
            TimerKind::Scheduled,
            TimerKind::Backoff,
            TimerKind::AttemptDeadline,
        ] {
            if other != kind {
                stale.push((other, due));
            }
        }
        for (timer, due) in stale {
            let t = story.when(Event::TimerFired { timer, due });
            assert_noop(&story.state, &t);
            assert_eq!(
                t.disposition,
                Disposition::Ignored(IgnoreReason::StaleTimer)
            );
        }
    }
}

#[test]
fn the_attempt_deadline_abandons_the_attempt_as_a_transient_failure() {
    let mut story = Story::running();
    let t = story.fire_deadline();
    let at = Timestamp(story.now);
    assert_eq!(t.state.failures, 1);
    assert_eq!(
        t.state.phase,
        Phase::Backoff {
            until: at.plus_secs(300),
            failures: 1
        }
    );
    let failure = t.state.last_failure.as_ref().unwrap();
    assert_eq!(failure.kind, FailureKind::Abandoned);
    assert!(collects(&t.effects).is_empty());
    // The result that finally comes for the abandoned attempt changes nothing.
    let t = story.when(Event::AttemptFinished {
        attempt: 1,
        outcome: collected(KEY_A),
    });
    assert_noop(&story.state, &t);
}

#[test]
fn a_new_attempt_never_starts_while_one_runs() {
    let story = Story::running();
    let (_, deadline) = story.state.deadline().unwrap();
    for event in [
        trigger("r-6"),
        Event::TimerFired {
            timer: TimerKind::Scheduled,
            due: deadline,
        },
        Event::CredentialsUpdated,
        Event::HostKeyReset,
        enrolled("10.0.0.9"),
    ] {
        let t = story.when(event.clone());
        assert!(collects(&t.effects).is_empty(), "{event:?}");
        assert_eq!(t.state.phase.kind(), PhaseKind::Running, "{event:?}");
        assert_eq!(running_attempt(&t.state), 1);
    }
}

// === rule 7: enrolment and retirement ===

#[test]
fn enrolled_on_an_active_device_updates_the_address_but_not_the_schedule() {
    let mut backoff = Story::running();
    backoff.finish(failed(FailureKind::Timeout));
    for (name, mut story) in [
        ("jitter", Story::enrolled()),
        ("running", Story::running()),
        ("idle", Story::idle()),
        ("backoff", backoff),
    ] {
        let before = story.state.clone();
        story.wait(5_000);
        let t = story.then_apply(Event::Enrolled {
            tenant: tenant(),
            host: "192.0.2.7".into(),
            port: 2222,
            jitter_ms: 1,
            policy: RetryPolicy::default(),
            tags: Vec::new(),
        });
        assert_eq!(&*t.state.host, "192.0.2.7", "{name}");
        assert_eq!(t.state.port, 2222, "{name}");
        assert_eq!(t.state.phase, before.phase, "{name}");
        assert_eq!(t.state.deadline(), before.deadline(), "{name}");
        assert_eq!(t.state.failures, before.failures, "{name}");
        assert_eq!(t.state.since, before.since, "{name}");
        assert!(t.effects.is_empty(), "{name}");
    }
    // The next attempt goes to the new address.
    let mut story = Story::idle();
    story.then_apply(Event::Enrolled {
        tenant: tenant(),
        host: "192.0.2.7".into(),
        port: 2222,
        jitter_ms: 1,
        policy: RetryPolicy::default(),
        tags: Vec::new(),
    });
    let t = story.fire_deadline();
    assert!(matches!(
        &collects(&t.effects)[..],
        [Effect::Collect(AttemptRequest { host, port: 2222, .. })] if host == "192.0.2.7"
    ));
}

#[test]
fn retired_is_terminal_until_a_new_enrolment() {
    let mut story = Story::idle();
    let t = story.then_apply(Event::Retired);
    assert_eq!(
        t.state.phase,
        Phase::Retired {
            since: Timestamp(story.now)
        }
    );
    assert_eq!(t.state.deadline(), None);
    let events = [
        Event::TimerFired {
            timer: TimerKind::Scheduled,
            due: Timestamp(story.now + secs(21_600)),
        },
        Event::AttemptFinished {
            attempt: 1,
            outcome: collected(KEY_A),
        },
        Event::CredentialsUpdated,
        Event::HostKeyReset,
        Event::Retired,
    ];
    for event in events {
        story.wait(1000);
        let t = story.when(event.clone());
        assert_noop(&story.state, &t);
        story.then_apply(event);
    }
    story.wait(1000);
    let t = story.then_apply(enrolled("10.0.0.1"));
    assert_eq!(
        t.state.phase,
        Phase::Jitter {
            until: Timestamp(story.now + JITTER_MS)
        }
    );
    let t = story.fire_deadline();
    assert_eq!(collects(&t.effects).len(), 1);
}

#[test]
fn every_active_phase_can_be_retired() {
    let mut auth = Story::running();
    auth.finish(failed(FailureKind::AuthFailed));
    let mut key = Story::idle();
    key.fire_deadline();
    key.finish(collected(KEY_B));
    let mut backoff = Story::running();
    backoff.finish(failed(FailureKind::Timeout));
    for (name, story) in [
        ("jitter", Story::enrolled()),
        ("running", Story::running()),
        ("idle", Story::idle()),
        ("backoff", backoff),
        ("auth", auth),
        ("host key", key),
    ] {
        let t = story.when(Event::Retired);
        assert_eq!(t.state.phase.kind(), PhaseKind::Retired, "{name}");
        assert_eq!(t.state.deadline(), None, "{name}");
        assert!(collects(&t.effects).is_empty(), "{name}");
    }
}

// === policy in force ===

#[test]
fn a_policy_change_applies_to_the_next_decision() {
    let mut story = Story::running();
    let policy = RetryPolicy {
        interval_secs: 3_600,
        backoff_secs: vec![10, 20],
        ..RetryPolicy::default()
    };
    story.then_apply(Event::PolicyChanged {
        policy: policy.clone(),
    });
    assert_eq!(*story.state.policy, policy);
    let t = story.finish(failed(FailureKind::Timeout));
    assert_eq!(
        t.state.deadline(),
        Some((TimerKind::Backoff, Timestamp(story.now).plus_secs(10)))
    );
    story.fire_deadline();
    let t = story.finish(collected(KEY_A));
    assert_eq!(
        t.state.deadline(),
        Some((TimerKind::Scheduled, Timestamp(story.now).plus_secs(3_600)))
    );
}

#[test]
fn a_shorter_interval_brings_an_idle_devices_next_backup_forward() {
    let mut story = Story::idle();
    let settled = Timestamp(story.now);
    story.wait(secs(600));
    let shorter = |interval_secs| Event::PolicyChanged {
        policy: RetryPolicy {
            interval_secs,
            ..RetryPolicy::default()
        },
    };
    let t = story.then_apply(shorter(3_600));
    assert_eq!(
        t.state.deadline(),
        Some((TimerKind::Scheduled, settled.plus_secs(3_600))),
        "one new interval after the last backup, not after the change"
    );
    let t = story.then_apply(shorter(86_400));
    assert_eq!(
        t.state.deadline(),
        Some((TimerKind::Scheduled, settled.plus_secs(3_600))),
        "a longer interval waits for the backup already due"
    );
    let t = story.then_apply(Event::TagsChanged {
        tags: vec!["core".into()],
    });
    assert_eq!(&*t.state.tags, ["core".to_string()]);
    assert_eq!(t.state.phase, story.state.phase);
}

#[test]
fn an_invalid_policy_is_recorded_and_the_old_one_stays() {
    let story = Story::idle();
    let t = story.when(Event::PolicyChanged {
        policy: RetryPolicy {
            backoff_secs: vec![],
            ..RetryPolicy::default()
        },
    });
    assert_noop(&story.state, &t);
    assert!(matches!(
        t.disposition,
        Disposition::Ignored(IgnoreReason::InvalidPolicy(_))
    ));
    let fresh = Story {
        state: DeviceState::new(device(), tenant()),
        now: T0,
    };
    let t = fresh.when(Event::Enrolled {
        tenant: tenant(),
        host: "10.0.0.1".into(),
        port: 22,
        jitter_ms: 0,
        policy: RetryPolicy {
            interval_secs: 0,
            ..RetryPolicy::default()
        },
        tags: Vec::new(),
    });
    assert_eq!(t.state.policy.interval_secs, 21_600);
}

#[test]
fn unblocking_commands_on_a_device_that_is_not_blocked_change_no_schedule() {
    let story = Story::idle();
    let t = story.when(Event::CredentialsUpdated);
    assert_noop(&story.state, &t);
    assert_eq!(
        t.disposition,
        Disposition::Ignored(IgnoreReason::NotBlocked)
    );
    // A host-key reset on a healthy device forgets the key but keeps the schedule.
    let t = story.when(Event::HostKeyReset);
    assert_eq!(t.effects, vec![Effect::ForgetHostKey]);
    assert_eq!(t.state.phase, story.state.phase);
    assert_eq!(t.state.trusted_host_key, None);
}
