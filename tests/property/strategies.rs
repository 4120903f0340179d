//! Generators: what an operator, the clock and the runner might feed a
//! device, as actions (turned into envelopes by the driver, so that timers
//! are usually the current deadline and results usually the running
//! attempt), plus raw events, policies and RouterOS-like export texts.

use confkeep::domain::{
    DeviceId, Envelope, Event, FailureKind, Outcome, RetryPolicy, SCHEMA_VERSION, SkipReason,
    TenantId, TimerKind, Timestamp,
};
use proptest::prelude::*;

pub const KEYS: [&str; 3] = [
    "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "SHA256:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
    "SHA256:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC",
];

/// One thing that happens to a device.
#[derive(Debug, Clone)]
pub enum Action {
    /// Time passes (milliseconds).
    Wait(u64),
    /// The current deadline fires on time (a stale timer if there is none).
    FireDeadline,
    /// A timer that is not the current deadline fires: `offset` moves its
    /// due time, or `kind` differs.
    StaleTimer {
        kind: TimerKind,
        offset: i64,
    },
    /// The running attempt ends (a result for attempt 0 if none runs).
    Finish(Outcome),
    /// A result for some other attempt.
    FinishOther {
        delta: u64,
        outcome: Outcome,
    },
    Trigger,
    CredentialsUpdated,
    HostKeyReset,
    HostKeyAccepted(usize),
    PolicyChanged(RetryPolicy),
    Retired,
    Enrolled {
        host: u8,
        jitter_ms: u64,
    },
}

pub fn timer_kind() -> impl Strategy<Value = TimerKind> {
    prop_oneof![
        Just(TimerKind::Jitter),
        Just(TimerKind::Scheduled),
        Just(TimerKind::Backoff),
        Just(TimerKind::AttemptDeadline),
    ]
}

pub fn transient_kind() -> impl Strategy<Value = FailureKind> {
    prop_oneof![
        Just(FailureKind::Timeout),
        Just(FailureKind::ConnectionRefused),
        Just(FailureKind::Unreachable),
        Just(FailureKind::Truncated),
        Just(FailureKind::InvalidOutput),
        Just(FailureKind::TooLarge),
        Just(FailureKind::PublishFailed),
        Just(FailureKind::Abandoned),
        Just(FailureKind::Other),
    ]
}

pub fn failure_kind() -> impl Strategy<Value = FailureKind> {
    prop_oneof![
        6 => transient_kind(),
        1 => Just(FailureKind::AuthFailed),
        1 => (0..KEYS.len()).prop_map(|k| FailureKind::HostKeyMismatch { presented: KEYS[k].into() }),
    ]
}

pub fn skip_reason() -> impl Strategy<Value = SkipReason> {
    prop_oneof![Just(SkipReason::Offline), Just(SkipReason::LockHeld)]
}

/// Results as a collector reports them; mostly the trusted key, sometimes another.
pub fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        5 => (prop_oneof![6 => Just(0usize), 1 => 1..KEYS.len()], any::<[u8; 4]>(), 0u64..1_000_000)
            .prop_map(|(k, h, bytes)| Outcome::Collected {
                sha256: format!("{:0>64}", hex_of(&h)),
                bytes,
                host_key: KEYS[k].into(),
                duration_ms: bytes % 5_000,
                routeros_version: Some(format!("{}.{}", 6 + bytes % 2, bytes % 20)),
                stored_apart: None,
            }),
        2 => skip_reason().prop_map(|reason| Outcome::Skipped { reason }),
        4 => (failure_kind(), "[a-z ]{0,12}").prop_map(|(kind, message)| Outcome::Failed { kind, message, learned: Default::default()  }),
    ]
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A policy that validates.
pub fn valid_policy() -> impl Strategy<Value = RetryPolicy> {
    (
        1u64..100_000,
        0u64..600,
        0u64..600,
        prop::collection::vec(1u64..10_000, 1..6),
        1u64..300,
        0u64..120,
        1u32..100,
        1u64..3_600,
        1u64..3_600,
    )
        .prop_map(
            |(interval, j1, j2, ladder, timeout, grace, conc, offline, lock)| RetryPolicy {
                interval_secs: interval,
                jitter_min_secs: j1.min(j2),
                jitter_max_secs: j1.max(j2),
                backoff_secs: ladder,
                command_timeout_secs: timeout,
                deadline_grace_secs: grace,
                max_concurrent: conc,
                offline_recheck_secs: offline,
                lock_held_retry_secs: lock,
            },
        )
}

/// Any policy, valid or not (zeros and inverted ranges are likely).
pub fn any_policy() -> impl Strategy<Value = RetryPolicy> {
    (
        prop_oneof![Just(0u64), 1u64..100_000],
        0u64..5,
        0u64..5,
        prop::collection::vec(prop_oneof![Just(0u64), 1u64..5_000], 0..4),
        prop_oneof![Just(0u64), 1u64..300],
        prop_oneof![Just(0u32), 1u32..20],
    )
        .prop_map(|(interval, j1, j2, ladder, timeout, conc)| RetryPolicy {
            interval_secs: interval,
            jitter_min_secs: j1,
            jitter_max_secs: j2,
            backoff_secs: ladder,
            command_timeout_secs: timeout,
            max_concurrent: conc,
            ..RetryPolicy::default()
        })
}

pub fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0u64..4 * 3_600_000).prop_map(Action::Wait),
        14 => Just(Action::FireDeadline),
        2 => (timer_kind(), prop_oneof![Just(0i64), -5_000i64..5_000]).prop_map(|(kind, offset)| Action::StaleTimer { kind, offset }),
        12 => outcome().prop_map(Action::Finish),
        1 => (1u64..3, outcome()).prop_map(|(delta, outcome)| Action::FinishOther { delta, outcome }),
        3 => Just(Action::Trigger),
        1 => Just(Action::CredentialsUpdated),
        1 => Just(Action::HostKeyReset),
        1 => (0..KEYS.len()).prop_map(Action::HostKeyAccepted),
        1 => prop_oneof![valid_policy(), any_policy()].prop_map(Action::PolicyChanged),
        1 => Just(Action::Retired),
        1 => (0u8..3, 0u64..300_000).prop_map(|(host, jitter_ms)| Action::Enrolled { host, jitter_ms }),
    ]
}

/// A device's life: usually enrolled first, then up to `len` actions.
pub fn story(len: usize) -> impl Strategy<Value = Vec<Action>> {
    (
        prop::bool::weighted(0.95),
        0u64..300_000,
        prop::collection::vec(action(), 0..len),
    )
        .prop_map(|(enrol, jitter_ms, mut actions)| {
            if enrol {
                actions.insert(0, Action::Enrolled { host: 0, jitter_ms });
            }
            actions
        })
}

// === raw events and envelopes, for the codec ===

pub fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,24}"
}

pub fn text() -> impl Strategy<Value = String> {
    // Anything a device or an operator might type, quotes and unicode included.
    "\\PC{0,24}"
}

pub fn tags() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 0..3)
}

pub fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (
            id(),
            text(),
            any::<u16>(),
            any::<u64>(),
            any_policy(),
            tags()
        )
            .prop_map(
                |(tenant, host, port, jitter_ms, policy, tags)| Event::Enrolled {
                    tenant: TenantId::parse(&tenant).unwrap(),
                    host,
                    port,
                    jitter_ms,
                    policy,
                    tags,
                }
            ),
        tags().prop_map(|tags| Event::TagsChanged { tags }),
        Just(Event::Retired),
        text().prop_map(|request| Event::TriggerRequested { request }),
        Just(Event::CredentialsUpdated),
        Just(Event::HostKeyReset),
        text().prop_map(|fingerprint| Event::HostKeyAccepted { fingerprint }),
        any_policy().prop_map(|policy| Event::PolicyChanged { policy }),
        (timer_kind(), any::<u64>()).prop_map(|(timer, due)| Event::TimerFired {
            timer,
            due: Timestamp(due)
        }),
        (any::<u64>(), outcome(), text()).prop_map(|(attempt, outcome, message)| {
            let outcome = match outcome {
                Outcome::Failed { kind, .. } => Outcome::Failed {
                    kind,
                    message,
                    learned: Default::default(),
                },
                other => other,
            };
            Event::AttemptFinished { attempt, outcome }
        }),
    ]
}

pub fn envelope() -> impl Strategy<Value = Envelope> {
    (
        id(),
        id(),
        any::<u64>(),
        any::<u64>(),
        text(),
        prop::option::of(text()),
        event(),
        0..=SCHEMA_VERSION,
    )
        .prop_map(
            |(device, tenant, seq, at, node, correlation, event, schema)| Envelope {
                schema,
                device: DeviceId::parse(&device).unwrap(),
                tenant: TenantId::parse(&tenant).unwrap(),
                seq,
                at: Timestamp(at),
                node,
                correlation,
                event,
                after: None,
            },
        )
}

// === RouterOS-like export text ===

/// One physical line of an export body (never a header line).
fn body_line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "/[a-z]{2,8}( [a-z]{2,8})?",
        8 => "(add|set) [a-z-]{1,8}=[a-z0-9.\"/]{0,12}( [a-z-]{1,8}=[a-z0-9]{0,8})?",
        2 => "(add|set) [a-z]{1,6}=[a-z0-9 ]{0,10}\\\\{1,3}",
        2 => "    [a-z-]{1,8}=[a-z0-9\"]{0,10}",
        1 => "# [a-z ]{0,20}",
        1 => prop_oneof![
            Just("# ether1 not ready".to_owned()),
            Just("# inactive time".to_owned()),
            Just("# managed by CAPsMAN".to_owned()),
            Just("# Firmware upgraded successfully, please reboot for changes to take effect!".to_owned()),
        ],
        2 => "[ \t]{0,3}",
        1 => "[a-z=]{0,6}[ \t]{1,3}",
    ]
}

/// The body of an export: lines, blank runs, continuations, trailing spaces.
pub fn export_body() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(body_line(), 0..30),
        prop::bool::ANY,
        prop::bool::ANY,
    )
        .prop_map(|(lines, crlf, final_newline)| {
            let mut body = lines.join(if crlf { "\r\n" } else { "\n" });
            if final_newline {
                body.push_str(if crlf { "\r\n" } else { "\n" });
            }
            body
        })
}

/// An export header in one of its three real forms, at a random time.
pub fn header(version: &'static str) -> impl Strategy<Value = String> {
    (
        0usize..3,
        1970u32..2100,
        0usize..12,
        1u32..29,
        0u32..24,
        0u32..60,
        0u32..60,
    )
        .prop_map(move |(form, year, month, day, h, m, s)| {
            const MONTHS: [&str; 12] = [
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ];
            let date = match form {
                0 => format!("{}/{day:02}/{year}", MONTHS[month]),
                1 => format!("{year}-{:02}-{day:02}", month + 1),
                _ => format!("{year}/{:02}/{day:02}", month + 1),
            };
            format!("# {date} {h:02}:{m:02}:{s:02} by RouterOS {version}")
        })
}
