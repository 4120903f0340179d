//! The notification fold over sample histories and hand-made events: one
//! notification per transition, none on replay of what was told.

use super::*;
use crate::domain::{After, FailureKind, RetryPolicy, SCHEMA_VERSION};

fn env(seq: u64, at: u64, event: Event, after: PhaseKind) -> Envelope {
    Envelope {
        schema: SCHEMA_VERSION,
        device: DeviceId::parse("r1").unwrap(),
        tenant: TenantId::parse("acme").unwrap(),
        seq,
        at: Timestamp(at),
        node: "n".into(),
        correlation: None,
        event,
        after: Some(After {
            phase: after,
            deadline: None,
        }),
    }
}

fn enrolled(seq: u64, at: u64) -> Envelope {
    let policy = RetryPolicy {
        interval_secs: 100,
        ..RetryPolicy::default()
    };
    let event = Event::Enrolled {
        tenant: TenantId::parse("acme").unwrap(),
        host: "h".into(),
        port: 22,
        jitter_ms: 0,
        policy,
        tags: vec![],
    };
    env(seq, at, event, PhaseKind::Jitter)
}

fn collected(seq: u64, at: u64, sha: &str) -> Envelope {
    let outcome = Outcome::Collected {
        sha256: sha.into(),
        bytes: 1,
        host_key: "k".into(),
        duration_ms: 1,
        routeros_version: None,
        stored_apart: None,
    };
    env(
        seq,
        at,
        Event::AttemptFinished {
            attempt: seq,
            outcome,
        },
        PhaseKind::Idle,
    )
}

fn refused(seq: u64, at: u64) -> Envelope {
    let outcome = Outcome::Failed {
        kind: FailureKind::AuthFailed,
        message: "the device refused our credentials".into(),
        learned: Default::default(),
    };
    env(
        seq,
        at,
        Event::AttemptFinished {
            attempt: seq,
            outcome,
        },
        PhaseKind::AuthBlocked,
    )
}

fn kinds(n: &[Notification]) -> Vec<&'static str> {
    n.iter().map(|n| n.event.name()).collect()
}

#[test]
fn a_change_is_told_with_both_hashes_and_the_first_backup_is_not_a_change() {
    let mut f = NotificationFold::default();
    assert!(f.apply(&enrolled(1, 0)).is_empty());
    assert!(f.apply(&collected(2, 10, "aa")).is_empty());
    assert!(f.apply(&collected(3, 20, "aa")).is_empty(), "unchanged");
    let n = f.apply(&collected(4, 30, "bb"));
    assert_eq!(kinds(&n), ["config.changed"]);
    assert_eq!(n[0].old_hash.as_deref(), Some("aa"));
    assert_eq!(n[0].new_hash.as_deref(), Some("bb"));
    assert_eq!(n[0].id, "r1/4/config.changed");
}

#[test]
fn blocked_once_then_recovered_once() {
    let mut f = NotificationFold::default();
    f.apply(&enrolled(1, 0));
    let n = f.apply(&refused(2, 10));
    assert_eq!(kinds(&n), ["device.blocked"]);
    assert!(n[0].reason.as_deref().unwrap().contains("refused"));
    let still = env(
        3,
        11,
        Event::TriggerRequested {
            request: "x".into(),
        },
        PhaseKind::AuthBlocked,
    );
    assert!(f.apply(&still).is_empty(), "staying blocked tells nothing");
    let back = env(4, 12, Event::CredentialsUpdated, PhaseKind::Idle);
    assert!(f.apply(&back).is_empty(), "recovered means backed up again");
    assert_eq!(
        kinds(&f.apply(&collected(5, 20, "aa"))),
        ["device.recovered"]
    );
    assert!(f.apply(&collected(6, 30, "aa")).is_empty());
}

#[test]
fn stale_is_told_once_per_streak_and_survives_a_restart_through_the_alerts() {
    let mut f = NotificationFold::default();
    f.apply(&enrolled(1, 0));
    f.apply(&collected(2, 1_000, "aa"));
    assert!(
        f.stale_at(Timestamp(150_000)).is_empty(),
        "within two intervals"
    );
    let n = f.stale_at(Timestamp(250_000));
    assert_eq!(kinds(&n), ["device.stale"]);
    assert!(f.stale_at(Timestamp(900_000)).is_empty(), "told once");

    // A restart folds the log again, then takes up the saved alerts.
    let mut again = NotificationFold::default();
    again.apply(&enrolled(1, 0));
    again.apply(&collected(2, 1_000, "aa"));
    again.restore(f.alerts().clone());
    assert!(
        again.stale_at(Timestamp(900_000)).is_empty(),
        "not told twice"
    );
    assert_eq!(
        kinds(&again.apply(&collected(3, 950_000, "aa"))),
        ["device.recovered"]
    );
}
