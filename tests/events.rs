//! Bad input at the domain's edges: impossible retry policies are refused
//! with a typed error naming the field, and bytes that are not an envelope
//! this build can read are refused with a typed error naming what was wrong —
//! never a panic.

use confkeep::domain::{
    DecodeError, DeviceId, Envelope, Event, PolicyError, RetryPolicy, SCHEMA_VERSION, TenantId,
    TimerKind, Timestamp,
};

// === policy validation ===

#[test]
fn the_default_policy_is_what_operators_know() {
    let p = RetryPolicy::default();
    assert_eq!(p.validate(), Ok(()));
    assert_eq!(p.interval_secs, 21_600);
    assert_eq!((p.jitter_min_secs, p.jitter_max_secs), (30, 300));
    assert_eq!(p.backoff_secs, vec![300, 900, 3_600]);
    assert_eq!(p.command_timeout_secs, 60);
    assert_eq!(p.attempt_deadline_secs(), 90);
    assert_eq!(p.max_concurrent, 10);
    assert_eq!(p.offline_recheck_secs, 900);
    assert_eq!(p.lock_held_retry_secs, 300);
}

#[test]
fn a_zero_interval_is_refused() {
    let p = RetryPolicy {
        interval_secs: 0,
        ..RetryPolicy::default()
    };
    assert_eq!(p.validate(), Err(PolicyError::ZeroInterval));
    assert!(
        RetryPolicy::try_new(p)
            .unwrap_err()
            .to_string()
            .contains("interval_secs")
    );
}

#[test]
fn an_empty_ladder_is_refused() {
    let p = RetryPolicy {
        backoff_secs: vec![],
        ..RetryPolicy::default()
    };
    let err = p.validate().unwrap_err();
    assert_eq!(err, PolicyError::EmptyLadder);
    assert!(err.to_string().contains("backoff_secs"), "{err}");
}

#[test]
fn a_zero_rung_is_refused_by_index() {
    let p = RetryPolicy {
        backoff_secs: vec![300, 0, 3_600],
        ..RetryPolicy::default()
    };
    let err = p.validate().unwrap_err();
    assert_eq!(err, PolicyError::ZeroBackoff { index: 1 });
    assert!(err.to_string().contains("backoff_secs[1]"), "{err}");
}

#[test]
fn an_inverted_jitter_range_is_refused() {
    let p = RetryPolicy {
        jitter_min_secs: 301,
        jitter_max_secs: 300,
        ..RetryPolicy::default()
    };
    let err = p.validate().unwrap_err();
    assert_eq!(err, PolicyError::JitterInverted { min: 301, max: 300 });
    assert!(err.to_string().contains("jitter_min_secs (301)"), "{err}");
    // Equal bounds are a fixed delay, not an error.
    let fixed = RetryPolicy {
        jitter_min_secs: 60,
        jitter_max_secs: 60,
        ..RetryPolicy::default()
    };
    assert_eq!(fixed.validate(), Ok(()));
}

#[test]
fn zero_concurrency_is_refused() {
    let p = RetryPolicy {
        max_concurrent: 0,
        ..RetryPolicy::default()
    };
    let err = p.validate().unwrap_err();
    assert_eq!(err, PolicyError::ZeroConcurrency);
    assert!(err.to_string().contains("max_concurrent"), "{err}");
}

#[test]
fn a_zero_command_timeout_is_refused() {
    let p = RetryPolicy {
        command_timeout_secs: 0,
        ..RetryPolicy::default()
    };
    assert_eq!(p.validate(), Err(PolicyError::ZeroCommandTimeout));
}

#[test]
fn the_ladder_saturates_at_its_last_rung_and_never_panics() {
    let p = RetryPolicy::default();
    let delays: Vec<u64> = [0, 1, 2, 3, 4, 100, u32::MAX]
        .into_iter()
        .map(|n| p.backoff_delay_secs(n))
        .collect();
    assert_eq!(delays, vec![300, 300, 900, 3_600, 3_600, 3_600, 3_600]);
    // A hand-edited log may carry an empty ladder: a delay, not a panic.
    let broken = RetryPolicy {
        backoff_secs: vec![],
        ..RetryPolicy::default()
    };
    assert_eq!(broken.backoff_delay_secs(3), 60);
    // Huge values saturate instead of overflowing.
    let huge = RetryPolicy {
        command_timeout_secs: u64::MAX,
        deadline_grace_secs: u64::MAX,
        ..RetryPolicy::default()
    };
    assert_eq!(huge.attempt_deadline_secs(), u64::MAX);
    assert_eq!(Timestamp(5).plus_secs(u64::MAX), Timestamp(u64::MAX));
}

#[test]
fn a_policy_with_an_unknown_field_is_refused_by_name() {
    let err = serde_json::from_str::<RetryPolicy>(r#"{"interval_sec": 60}"#).unwrap_err();
    assert!(err.to_string().contains("interval_sec"), "{err}");
    // Missing fields take the defaults.
    let p: RetryPolicy = serde_json::from_str(r#"{"interval_secs": 60}"#).unwrap();
    assert_eq!(p.interval_secs, 60);
    assert_eq!(p.backoff_secs, vec![300, 900, 3_600]);
}

// === decoding envelopes ===

fn sample() -> Envelope {
    Envelope {
        schema: SCHEMA_VERSION,
        device: DeviceId::parse("core-1").unwrap(),
        tenant: TenantId::parse("acme").unwrap(),
        seq: 7,
        at: Timestamp(1_700_000_000_000),
        node: "node-a".into(),
        correlation: Some("core-1/3".into()),
        event: Event::TimerFired {
            timer: TimerKind::Backoff,
            due: Timestamp(1_700_000_000_000),
        },
        after: None,
    }
}

fn sample_json() -> serde_json::Value {
    serde_json::from_slice(&sample().encode().unwrap()).unwrap()
}

#[test]
fn an_envelope_round_trips_through_json() {
    let env = sample();
    let bytes = env.encode().unwrap();
    assert_eq!(Envelope::decode(&bytes), Ok(env));
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains(r#""type":"timer_fired""#), "{text}");
}

#[test]
fn an_unknown_event_type_is_named() {
    let mut json = sample_json();
    json["event"] = serde_json::json!({"type": "device_rebooted", "uptime": 5});
    let err = Envelope::decode(json.to_string().as_bytes()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::UnknownEvent {
            found: "device_rebooted".into()
        }
    );
    let message = err.to_string();
    assert!(message.contains("device_rebooted"), "{message}");
    assert!(
        message.contains("timer_fired"),
        "lists the known: {message}"
    );
}

#[test]
fn a_newer_schema_is_named() {
    let mut json = sample_json();
    json["schema"] = serde_json::json!(SCHEMA_VERSION + 1);
    let err = Envelope::decode(json.to_string().as_bytes()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::NewerSchema {
            found: SCHEMA_VERSION + 1,
            supported: SCHEMA_VERSION
        }
    );
    assert!(err.to_string().contains(&format!("{}", SCHEMA_VERSION + 1)));
}

#[test]
fn a_newer_schema_with_an_event_we_do_not_know_is_reported_as_newer() {
    // The newer schema explains the unknown event: say that, not "unknown".
    let mut json = sample_json();
    json["schema"] = serde_json::json!(99);
    json["event"] = serde_json::json!({"type": "firmware_upgraded"});
    let err = Envelope::decode(json.to_string().as_bytes()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::NewerSchema {
            found: 99,
            supported: SCHEMA_VERSION
        }
    );
}

#[test]
fn a_known_event_with_a_bad_field_is_malformed_and_names_the_field() {
    let mut json = sample_json();
    json["event"] = serde_json::json!({"type": "timer_fired", "timer": "hourly", "due": 5});
    let err = Envelope::decode(json.to_string().as_bytes()).unwrap_err();
    let DecodeError::Malformed { reason } = &err else {
        panic!("expected malformed, got {err:?}");
    };
    assert!(reason.contains("hourly"), "{reason}");
}

#[test]
fn a_bad_device_id_is_refused() {
    let mut json = sample_json();
    json["device"] = serde_json::json!("core 1/../x");
    // An id that cannot be a subject token never enters a state from the log.
    let err = Envelope::decode(json.to_string().as_bytes()).unwrap_err();
    let DecodeError::Malformed { reason } = &err else {
        panic!("expected malformed, got {err:?}");
    };
    assert!(reason.contains("device id \"core 1/../x\""), "{reason}");
    let mut json = sample_json();
    json["tenant"] = serde_json::json!("");
    let err = Envelope::decode(json.to_string().as_bytes()).unwrap_err();
    assert!(err.to_string().contains("tenant id is empty"), "{err}");
}

#[test]
fn garbage_is_malformed_never_a_panic() {
    let inputs: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"   ".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"{}".to_vec(),
        b"{\"schema\":1".to_vec(),
        b"{\"schema\":-1}".to_vec(),
        b"{\"schema\":\"one\"}".to_vec(),
        b"{\"schema\":1,\"event\":{\"type\":7}}".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x01],
        "[".repeat(10_000).into_bytes(),
        sample().encode().unwrap()[..40].to_vec(),
    ];
    for bytes in inputs {
        let err = Envelope::decode(&bytes).unwrap_err();
        assert!(
            matches!(err, DecodeError::Malformed { .. }),
            "{:?} gave {err:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
        );
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn an_older_schema_is_read() {
    let mut json = sample_json();
    json["schema"] = serde_json::json!(0);
    let env = Envelope::decode(json.to_string().as_bytes()).unwrap();
    assert_eq!(env.seq, 7);
}
