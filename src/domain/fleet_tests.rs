//! The fleet scheduler's own tests: slots, restarts, aborts, gaps, the
//! reconcile and trigger refusals.
use super::*;
use crate::domain::event::{FailureKind, Outcome};
use crate::domain::policy::RetryPolicy;

fn id(s: &str) -> DeviceId {
    DeviceId::parse(s).unwrap()
}
fn tenant() -> TenantId {
    TenantId::parse("t").unwrap()
}
fn enrol(fleet: &mut Fleet, device: &str, jitter_ms: u64) {
    enrol_slots(fleet, device, jitter_ms, 1);
}
/// Enrol under a policy that sets the fleet's slot count to `slots`.
fn enrol_slots(fleet: &mut Fleet, device: &str, jitter_ms: u64, slots: u32) {
    fleet.submit(
        id(device),
        tenant(),
        Event::Enrolled {
            tenant: tenant(),
            host: "192.0.2.1".into(),
            port: 22,
            jitter_ms,
            policy: RetryPolicy {
                max_concurrent: slots,
                ..RetryPolicy::default()
            },
            tags: Vec::new(),
        },
        None,
    );
}
/// Record everything ready at `now` (as a driver with a perfect log would).
fn drain(fleet: &mut Fleet, now: u64, log: &mut Vec<Envelope>) -> Vec<Effect> {
    let mut effects = Vec::new();
    while let Some(p) = fleet.next_input(Timestamp(now)) {
        log.push(p.envelope.clone());
        effects.extend(fleet.commit(p));
    }
    effects
}
fn collects(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::Collect(_)))
        .count()
}

#[test]
fn due_attempts_wait_for_a_slot_in_due_order() {
    let mut fleet = Fleet::new("n1");
    let mut log = Vec::new();
    enrol_slots(&mut fleet, "a", 1_000, 2);
    enrol_slots(&mut fleet, "b", 2_000, 2);
    enrol_slots(&mut fleet, "c", 3_000, 2);
    assert_eq!(collects(&drain(&mut fleet, 0, &mut log)), 0);
    assert_eq!(fleet.poll_timeout(), Some(Timestamp(1_000)));
    let effects = drain(&mut fleet, 5_000, &mut log);
    assert_eq!(collects(&effects), 2, "only two slots");
    assert_eq!(fleet.running(), 2);
    assert_eq!(
        fleet.state(&id("c")).unwrap().phase.kind(),
        crate::domain::PhaseKind::Jitter
    );
    // a's attempt finishes: c gets the slot.
    timed_out(&mut fleet, "a", Default::default());
    let effects = drain(&mut fleet, 6_000, &mut log);
    assert_eq!(collects(&effects), 1);
    assert_eq!(fleet.running(), 2);
    assert_eq!(
        fleet.state(&id("c")).unwrap().phase.kind(),
        crate::domain::PhaseKind::Running
    );
    // Sequences per device have no gaps.
    for d in ["a", "b", "c"] {
        let seqs: Vec<u64> = log
            .iter()
            .filter(|e| e.device.as_str() == d)
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    }
}

#[test]
fn a_restart_leaves_running_attempts_to_their_deadline() {
    let mut fleet = Fleet::new("n1");
    let mut log = Vec::new();
    enrol(&mut fleet, "a", 0);
    let effects = drain(&mut fleet, 0, &mut log);
    assert_eq!(collects(&effects), 1, "a jitter of 0 is due at once");
    // The process dies; a new one replays the log.
    let mut fleet = Fleet::new("n2");
    for env in &log {
        fleet.replay(env).unwrap();
    }
    assert_eq!(fleet.running(), 0, "nobody runs the old attempt");
    let deadline = fleet.poll_timeout().unwrap();
    assert!(fleet.next_input(Timestamp(deadline.0 - 1)).is_none());
    let p = fleet.next_input(deadline).unwrap();
    assert!(matches!(
        p.envelope.event,
        Event::TimerFired {
            timer: TimerKind::AttemptDeadline,
            ..
        }
    ));
    let effects = fleet.commit(p);
    assert!(effects.is_empty());
    let state = fleet.state(&id("a")).unwrap();
    assert_eq!(state.phase.kind(), crate::domain::PhaseKind::Backoff);
    assert_eq!(
        state.last_failure.as_ref().unwrap().kind,
        FailureKind::Abandoned
    );
}

#[test]
fn an_aborted_command_is_offered_again() {
    let mut fleet = Fleet::new("n1");
    enrol(&mut fleet, "a", 10);
    let p = fleet.next_input(Timestamp(0)).unwrap();
    fleet.abort(p);
    let p = fleet.next_input(Timestamp(0)).unwrap();
    assert!(matches!(p.envelope.event, Event::Enrolled { .. }));
    assert_eq!(p.envelope.seq, 1);
    let _ = fleet.commit(p);
    assert_eq!(fleet.poll_timeout(), Some(Timestamp(10)));
}

#[test]
fn an_unanswered_append_is_sent_again_unchanged_once_the_pause_ends() {
    let mut fleet = Fleet::new("n1");
    enrol(&mut fleet, "a", 10);
    let p = fleet.next_input(Timestamp(0)).unwrap();
    let _ = fleet.commit(p);
    // The timer's decision (start attempt 1) is sent; the log does not answer.
    let first = fleet.next_input(Timestamp(10)).unwrap();
    let sent = first.envelope.clone();
    let news = fleet.append_unknown(first, Timestamp(10));
    assert!(matches!(news, PauseNews::Began(_)), "{news:?}");
    assert!(fleet.next_input(Timestamp(11)).is_none(), "paused");
    // A command for the device meanwhile waits behind the unsettled event.
    fleet.submit_known(id("a"), Event::CredentialsUpdated);
    let end = fleet.wake_at(Timestamp(11)).unwrap();
    let again = fleet.next_input(end).unwrap();
    assert_eq!(
        again.envelope, sent,
        "the very same bytes, not a new decision"
    );
    let effects = fleet.commit(again);
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Collect(_))),
        "its attempt runs: {effects:?}"
    );
    let next = fleet.next_input(end).unwrap();
    assert_eq!(next.envelope.seq, sent.seq + 1);
}

#[test]
fn a_refresh_during_an_enrolment_asks_nothing_twice() {
    let mut fleet = Fleet::new("n1").with_jitter_seed(3);
    let mut log = Vec::new();
    let want = |name: &str, port: u16, key: Option<&str>| DesiredDevice {
        device: id(name),
        tenant: tenant(),
        host: "192.0.2.1".into(),
        port,
        policy: RetryPolicy::default(),
        tags: Vec::new(),
        credentials: "v1".into(),
        known_host_key: key.map(str::to_owned),
    };
    let first = fleet.reconcile(vec![want("a", 22, Some("SHA256:k")), want("b", 22, None)]);
    assert_eq!((first.enrolled, first.host_keys_adopted), (2, 1));
    // The same inventory again before anything is recorded: nothing new.
    let again = fleet.reconcile(vec![want("a", 22, Some("SHA256:k")), want("b", 22, None)]);
    assert_eq!(again, Reconciled::default());
    // A real change meanwhile is still asked for.
    let moved = fleet.reconcile(vec![want("a", 22, Some("SHA256:k")), want("b", 2222, None)]);
    assert_eq!(moved.enrolled, 1);
    drain(&mut fleet, 0, &mut log);
    let names: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e.device.as_str(), e.event.name()))
        .collect();
    assert_eq!(
        names,
        [
            ("a", "enrolled"),
            ("a", "host_key_accepted"),
            ("b", "enrolled"),
            ("b", "enrolled")
        ],
        "{names:?}"
    );
    assert_eq!(fleet.state(&id("b")).unwrap().port, 2222);
    // Retirement: asked once, however many refreshes come before it lands.
    assert_eq!(
        fleet
            .reconcile(vec![want("a", 22, Some("SHA256:k"))])
            .retired,
        1
    );
    assert_eq!(
        fleet
            .reconcile(vec![want("a", 22, Some("SHA256:k"))])
            .retired,
        0
    );
    let before = log.len();
    drain(&mut fleet, 0, &mut log);
    assert_eq!(log.len() - before, 1);
}

#[test]
fn reconcile_enrols_retires_and_sees_changed_credentials() {
    let mut fleet = Fleet::new("n1").with_jitter_seed(9);
    let mut log = Vec::new();
    let want = |name: &str, host: &str, credentials: &str| DesiredDevice {
        device: id(name),
        tenant: tenant(),
        host: host.into(),
        port: 22,
        policy: RetryPolicy::default(),
        tags: Vec::new(),
        credentials: credentials.into(),
        known_host_key: None,
    };
    let done = fleet.reconcile(vec![
        want("a", "192.0.2.1", "v1"),
        want("b", "192.0.2.2", "v1"),
    ]);
    assert_eq!(
        (done.enrolled, done.retired, done.credentials_updated),
        (2, 0, 0)
    );
    drain(&mut fleet, 0, &mut log);
    // Nothing changed: nothing queued, no re-jitter.
    assert_eq!(
        fleet.reconcile(vec![
            want("a", "192.0.2.1", "v1"),
            want("b", "192.0.2.2", "v1")
        ]),
        Reconciled::default()
    );
    assert!(!fleet.has_submitted());
    // b leaves, a's password source changes, c arrives.
    let done = fleet.reconcile(vec![
        want("a", "192.0.2.1", "v2"),
        want("c", "192.0.2.3", "v1"),
    ]);
    assert_eq!(
        (done.enrolled, done.retired, done.credentials_updated),
        (1, 1, 1)
    );
    let before = log.len();
    drain(&mut fleet, 0, &mut log);
    let names: Vec<(&str, &str)> = log[before..]
        .iter()
        .map(|e| (e.device.as_str(), e.event.name()))
        .collect();
    assert!(names.contains(&("a", "credentials_updated")), "{names:?}");
    assert!(names.contains(&("b", "retired")), "{names:?}");
    assert!(names.contains(&("c", "enrolled")), "{names:?}");
    // The jitter is the seed's: another fleet with the same seed draws the same.
    let mut again = Fleet::new("n2").with_jitter_seed(9);
    again.reconcile(vec![want("a", "192.0.2.1", "v1")]);
    let p = again.next_input(Timestamp(0)).unwrap();
    assert_eq!(p.envelope.event, log[0].event);
}

#[test]
fn a_trigger_for_an_unknown_device_or_a_reused_request_is_refused() {
    let mut fleet = Fleet::new("n1");
    let mut log = Vec::new();
    assert_eq!(
        fleet.trigger(id("a"), RequestId::from("r1")),
        Err(TriggerReply::NotFound)
    );
    enrol(&mut fleet, "a", 1_000_000);
    drain(&mut fleet, 0, &mut log);
    assert_eq!(fleet.trigger(id("a"), RequestId::from("r1")), Ok(()));
    assert!(matches!(
        fleet.trigger(id("a"), RequestId::from("r1")),
        Err(TriggerReply::Failed { .. })
    ));
}

#[test]
fn replay_refuses_a_gap() {
    let mut fleet = Fleet::new("n1");
    let mut log = Vec::new();
    enrol(&mut fleet, "a", 10);
    drain(&mut fleet, 0, &mut log);
    let mut env = log[0].clone();
    env.seq = 3;
    let mut other = Fleet::new("n2");
    other.replay(&log[0]).unwrap();
    let err = other.replay(&env).unwrap_err();
    assert_eq!(err.expected, 2);
    assert_eq!(err.found, 3);
}

#[test]
fn what_a_failed_attempt_learned_serves_the_next_one() {
    let mut fleet = Fleet::new("n1");
    let mut log = Vec::new();
    enrol(&mut fleet, "a", 0);
    assert_eq!(collects(&drain(&mut fleet, 0, &mut log)), 1);
    let learned = crate::domain::Learned {
        routeros_major: Some(6),
        host_key: None,
        stage: Some(crate::domain::AttemptStage::Read),
    };
    timed_out(&mut fleet, "a", learned);
    drain(&mut fleet, 1_000, &mut log);
    let retry = fleet.poll_timeout().unwrap();
    let effects = drain(&mut fleet, retry.0, &mut log);
    assert!(
        matches!(
            &effects[..],
            [Effect::Collect(crate::domain::AttemptRequest {
                routeros_major: Some(6),
                ..
            })]
        ),
        "{effects:?}"
    );
}

/// The device's first attempt timed out, having learned `learned`.
fn timed_out(fleet: &mut Fleet, device: &str, learned: crate::domain::Learned) {
    fleet.submit(
        id(device),
        tenant(),
        Event::AttemptFinished {
            attempt: 1,
            outcome: Outcome::Failed {
                kind: FailureKind::Timeout,
                message: "no answer".into(),
                learned,
            },
        },
        None,
    );
}

#[test]
fn the_newest_policy_sets_the_slot_count_ours_or_another_writers() {
    let mut fleet = Fleet::new("n1");
    let mut log = Vec::new();
    for (d, j) in [("a", 1_000), ("b", 1_000), ("c", 1_000), ("d", 1_000)] {
        enrol_slots(&mut fleet, d, j, 1);
    }
    assert_eq!(collects(&drain(&mut fleet, 0, &mut log)), 0);
    assert_eq!(collects(&drain(&mut fleet, 2_000, &mut log)), 1, "one slot");
    // Another writer raises it to 3 on one device: two waiting attempts start.
    let seq = fleet.state(&id("d")).unwrap().seq + 1;
    let raised = Envelope {
        schema: crate::domain::SCHEMA_VERSION,
        device: id("d"),
        tenant: tenant(),
        seq,
        at: Timestamp(2_500),
        node: "operator".into(),
        correlation: None,
        after: None,
        event: Event::PolicyChanged {
            policy: RetryPolicy {
                max_concurrent: 3,
                jitter_max_secs: 0,
                jitter_min_secs: 0,
                ..RetryPolicy::default()
            },
        },
    };
    fleet.follow(&raised).unwrap();
    assert_eq!(fleet.max_concurrent(), 3);
    assert_eq!(collects(&drain(&mut fleet, 3_000, &mut log)), 2);
    assert_eq!(fleet.running(), 3);
    // A refused policy (zero slots) changes nothing.
    fleet.submit_known(
        id("d"),
        Event::PolicyChanged {
            policy: RetryPolicy {
                max_concurrent: 0,
                ..RetryPolicy::default()
            },
        },
    );
    drain(&mut fleet, 3_100, &mut log);
    assert_eq!(fleet.max_concurrent(), 3);
    // A replay ends with the value the log last recorded.
    log.push(raised);
    log.sort_by_key(|e| (e.at, e.device.clone(), e.seq));
    let mut again = Fleet::new("n2");
    for env in &log {
        again.replay(env).unwrap();
    }
    assert_eq!(again.max_concurrent(), 3);
}

#[test]
fn a_host_key_the_inventory_trusts_is_adopted_only_while_none_is_trusted() {
    let mut fleet = Fleet::new("n1");
    let mut log = Vec::new();
    let want = |key: Option<&str>| DesiredDevice {
        device: id("a"),
        tenant: tenant(),
        host: "192.0.2.1".into(),
        port: 22,
        policy: RetryPolicy::default(),
        tags: Vec::new(),
        credentials: "v1".into(),
        known_host_key: key.map(str::to_owned),
    };
    assert_eq!(
        fleet
            .reconcile(vec![want(Some("SHA256:k1"))])
            .host_keys_adopted,
        1
    );
    drain(&mut fleet, 0, &mut log);
    let adopted = log.last().unwrap();
    assert_eq!(adopted.event.name(), "host_key_accepted");
    assert_eq!(adopted.correlation.as_deref(), Some("inventory"));
    let state = fleet.state(&id("a")).unwrap();
    assert_eq!(state.trusted_host_key.as_deref(), Some("SHA256:k1"));
    // Trusted now: a different key in the inventory changes nothing (the
    // machine's trust moves only by its own rules or an operator).
    let done = fleet.reconcile(vec![want(Some("SHA256:k2"))]);
    assert_eq!(done, Reconciled::default());
    assert!(!fleet.has_submitted());
}

#[test]
fn a_new_policy_or_new_tags_are_recorded_as_such_without_a_new_jitter() {
    let mut fleet = Fleet::new("n1").with_jitter_seed(5);
    let mut log = Vec::new();
    let want = |interval: u64, tags: &[&str]| DesiredDevice {
        device: id("a"),
        tenant: tenant(),
        host: "192.0.2.1".into(),
        port: 22,
        policy: RetryPolicy {
            interval_secs: interval,
            ..RetryPolicy::default()
        },
        tags: tags.iter().map(|t| t.to_string()).collect(),
        credentials: "v1".into(),
        known_host_key: None,
    };
    assert_eq!(fleet.reconcile(vec![want(21_600, &["edge"])]).enrolled, 1);
    drain(&mut fleet, 0, &mut log);
    let jitter = fleet.state(&id("a")).unwrap().deadline();
    let changed = fleet.reconcile(vec![want(3_600, &["edge", "core"])]);
    assert_eq!(
        (
            changed.enrolled,
            changed.policies_changed,
            changed.tags_changed
        ),
        (0, 1, 1)
    );
    // Asked again before it lands: nothing twice.
    assert_eq!(
        fleet.reconcile(vec![want(3_600, &["edge", "core"])]),
        Reconciled::default()
    );
    drain(&mut fleet, 0, &mut log);
    let names: Vec<&str> = log.iter().map(|e| e.event.name()).collect();
    assert_eq!(names, ["enrolled", "policy_changed", "tags_changed"]);
    let s = fleet.state(&id("a")).unwrap();
    assert_eq!(s.policy.interval_secs, 3_600);
    assert_eq!(&*s.tags, ["edge".to_string(), "core".to_string()]);
    assert_eq!(s.deadline(), jitter, "the first backup stays where it was");
    assert_eq!(
        fleet.reconcile(vec![want(3_600, &["edge", "core"])]),
        Reconciled::default()
    );
}

#[test]
fn another_members_device_waits_the_grace_and_its_event_keeps_the_due() {
    use crate::domain::ownership::{Ownership, owner};
    let members: Vec<Arc<str>> = vec![Arc::from("n1"), Arc::from("n2")];
    // Two devices, one owned by each member.
    let names: Vec<String> = (0..50).map(|i| format!("d{i}")).collect();
    let mine = names
        .iter()
        .find(|d| owner(&id(d), &members) == Some("n1"))
        .unwrap();
    let theirs = names
        .iter()
        .find(|d| owner(&id(d), &members) == Some("n2"))
        .unwrap();
    let mut fleet = Fleet::new("n1");
    fleet.set_ownership(Ownership::new("n1", members.clone(), 30_000));
    let mut log = Vec::new();
    enrol_slots(&mut fleet, mine, 1_000, 2);
    enrol_slots(&mut fleet, theirs, 1_000, 2);
    drain(&mut fleet, 0, &mut log);
    assert_eq!(fleet.poll_timeout(), Some(Timestamp(1_000)));
    assert_eq!(
        collects(&drain(&mut fleet, 1_000, &mut log)),
        1,
        "mine only"
    );
    assert_eq!(fleet.poll_timeout(), Some(Timestamp(31_000)));
    assert_eq!(collects(&drain(&mut fleet, 30_999, &mut log)), 0);
    assert_eq!(
        collects(&drain(&mut fleet, 31_000, &mut log)),
        1,
        "after the grace"
    );
    let fired: Vec<Timestamp> = log
        .iter()
        .filter_map(|e| {
            if let Event::TimerFired { due, .. } = &e.event {
                Some(*due)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(
        fired,
        vec![Timestamp(1_000), Timestamp(1_000)],
        "the due, not the grace"
    );

    // Alone again (the other member gone): its devices are acted on at once.
    let mut fleet = Fleet::new("n1");
    fleet.set_ownership(Ownership::new("n1", members, 30_000));
    enrol_slots(&mut fleet, theirs, 1_000, 2);
    drain(&mut fleet, 0, &mut log);
    assert_eq!(fleet.poll_timeout(), Some(Timestamp(31_000)));
    fleet.set_ownership(Ownership::new("n1", [Arc::from("n1")], 30_000));
    assert_eq!(fleet.poll_timeout(), Some(Timestamp(1_000)));
}
