//! Reading stored envelopes fast, for replay.
//!
//! Decoding is most of the cost of replay. `Event` and `Outcome` are
//! internally tagged (`"type"`, `"status"`), and serde's derived decoder for
//! that shape first buffers every field of the object, then decodes it a
//! second time. What we write always puts the tag first, so [`decode`]
//! reads the tag, then decodes the variant's fields straight from the input.
//!
//! It is only a fast path: it refuses anything it is not sure of (another
//! schema version, an unknown field, a tag not first) and then
//! [`Envelope::decode`] decides, so results and error messages are exactly
//! the domain's. A test checks both agree on every event type.

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor, value::MapAccessDeserializer};

use crate::domain::{
    After, AttemptId, DecodeError, DeviceId, Envelope, Event, FailureKind, Learned, Outcome,
    RetryPolicy, SCHEMA_VERSION, SkipReason, TenantId, TimerKind, Timestamp,
};

/// The bytes an envelope is stored as: exactly those of [`Envelope::encode`]
/// (a test checks), written into a buffer sized for a usual envelope at
/// once instead of one that grows three times.
pub fn encode(env: &Envelope) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(ENCODED_CAPACITY);
    serde_json::to_writer(&mut out, env).map_err(|e| DecodeError::Malformed {
        reason: e.to_string(),
    })?;
    Ok(out)
}

/// Room for most envelopes (a sample history averages about 330 bytes).
const ENCODED_CAPACITY: usize = 512;

/// Decode a stored envelope: the fast path, else [`Envelope::decode`].
pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
    // UTF-8 checked once for the whole record, not string by string.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Envelope::decode(bytes);
    };
    match serde_json::from_str::<Wire>(text) {
        // Schema 1 is schema 2 without `learned`: the same fast path.
        Ok(wire) if (1..=SCHEMA_VERSION).contains(&wire.schema) => Ok(Envelope {
            schema: wire.schema,
            device: wire.device,
            tenant: wire.tenant,
            seq: wire.seq,
            at: wire.at,
            node: wire.node,
            correlation: wire.correlation,
            event: wire.event.0,
            after: wire.after,
        }),
        _ => Envelope::decode(bytes),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    schema: u32,
    device: DeviceId,
    tenant: TenantId,
    seq: u64,
    at: Timestamp,
    node: String,
    #[serde(default)]
    correlation: Option<String>,
    event: FastEvent,
    #[serde(default)]
    after: Option<After>,
}

struct FastEvent(Event);

#[derive(Deserialize)]
enum TypeKey {
    #[serde(rename = "type")]
    Type,
}

#[derive(Deserialize)]
enum StatusKey {
    #[serde(rename = "status")]
    Status,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum EventTag {
    Enrolled,
    Retired,
    TriggerRequested,
    CredentialsUpdated,
    HostKeyReset,
    HostKeyAccepted,
    PolicyChanged,
    TagsChanged,
    TimerFired,
    AttemptFinished,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum OutcomeTag {
    Collected,
    Skipped,
    Failed,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolledFields {
    tenant: TenantId,
    host: String,
    port: u16,
    jitter_ms: u64,
    policy: RetryPolicy,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagsFields {
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestFields {
    request: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FingerprintFields {
    fingerprint: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFields {
    policy: RetryPolicy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimerFields {
    timer: TimerKind,
    due: Timestamp,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FinishedFields {
    attempt: AttemptId,
    outcome: FastOutcome,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CollectedFields {
    sha256: String,
    bytes: u64,
    host_key: String,
    duration_ms: u64,
    #[serde(default)]
    routeros_version: Option<String>,
    #[serde(default)]
    stored_apart: Option<crate::domain::StoredApart>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SkippedFields {
    reason: SkipReason,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FailedFields {
    kind: FailureKind,
    message: String,
    #[serde(default)]
    learned: Learned,
}

struct FastOutcome(Outcome);

impl<'de> Deserialize<'de> for FastEvent {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FastEvent;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an event object starting with its \"type\"")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FastEvent, A::Error> {
                let Some(TypeKey::Type) = map.next_key()? else {
                    return Err(de::Error::custom("empty event"));
                };
                let tag: EventTag = map.next_value()?;
                let rest = MapAccessDeserializer::new(map);
                Ok(FastEvent(match tag {
                    EventTag::Enrolled => {
                        let f = EnrolledFields::deserialize(rest)?;
                        Event::Enrolled {
                            tenant: f.tenant,
                            host: f.host,
                            port: f.port,
                            jitter_ms: f.jitter_ms,
                            policy: f.policy,
                            tags: f.tags,
                        }
                    }
                    EventTag::Retired => {
                        NoFields::deserialize(rest)?;
                        Event::Retired
                    }
                    EventTag::TriggerRequested => Event::TriggerRequested {
                        request: RequestFields::deserialize(rest)?.request,
                    },
                    EventTag::CredentialsUpdated => {
                        NoFields::deserialize(rest)?;
                        Event::CredentialsUpdated
                    }
                    EventTag::HostKeyReset => {
                        NoFields::deserialize(rest)?;
                        Event::HostKeyReset
                    }
                    EventTag::HostKeyAccepted => Event::HostKeyAccepted {
                        fingerprint: FingerprintFields::deserialize(rest)?.fingerprint,
                    },
                    EventTag::PolicyChanged => Event::PolicyChanged {
                        policy: PolicyFields::deserialize(rest)?.policy,
                    },
                    EventTag::TagsChanged => Event::TagsChanged {
                        tags: TagsFields::deserialize(rest)?.tags,
                    },
                    EventTag::TimerFired => {
                        let f = TimerFields::deserialize(rest)?;
                        Event::TimerFired {
                            timer: f.timer,
                            due: f.due,
                        }
                    }
                    EventTag::AttemptFinished => {
                        let f = FinishedFields::deserialize(rest)?;
                        Event::AttemptFinished {
                            attempt: f.attempt,
                            outcome: f.outcome.0,
                        }
                    }
                }))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for FastOutcome {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FastOutcome;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an outcome object starting with its \"status\"")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FastOutcome, A::Error> {
                let Some(StatusKey::Status) = map.next_key()? else {
                    return Err(de::Error::custom("empty outcome"));
                };
                let tag: OutcomeTag = map.next_value()?;
                let rest = MapAccessDeserializer::new(map);
                Ok(FastOutcome(match tag {
                    OutcomeTag::Collected => {
                        let f = CollectedFields::deserialize(rest)?;
                        Outcome::Collected {
                            sha256: f.sha256,
                            bytes: f.bytes,
                            host_key: f.host_key,
                            duration_ms: f.duration_ms,
                            routeros_version: f.routeros_version,
                            stored_apart: f.stored_apart,
                        }
                    }
                    OutcomeTag::Skipped => Outcome::Skipped {
                        reason: SkippedFields::deserialize(rest)?.reason,
                    },
                    OutcomeTag::Failed => {
                        let f = FailedFields::deserialize(rest)?;
                        Outcome::Failed {
                            kind: f.kind,
                            message: f.message,
                            learned: f.learned,
                        }
                    }
                }))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(event: Event) -> Envelope {
        Envelope {
            schema: SCHEMA_VERSION,
            device: DeviceId::parse("r1").unwrap(),
            tenant: TenantId::parse("acme").unwrap(),
            seq: 7,
            at: Timestamp(1_700_000_000_000),
            node: "backup-1".into(),
            correlation: Some("attempt-3".into()),
            event,
            after: Some(After {
                phase: crate::domain::PhaseKind::Backoff,
                deadline: Some((TimerKind::Backoff, Timestamp(1_700_000_300_000))),
            }),
        }
    }

    /// Every event type, so that a change to the domain's format that the
    /// fast path does not follow shows up here.
    fn every_event() -> Vec<Envelope> {
        let mut out = vec![
            base(Event::Enrolled {
                tenant: TenantId::parse("acme").unwrap(),
                host: "10.0.0.1".into(),
                port: 22,
                jitter_ms: 42_000,
                policy: RetryPolicy::default(),
                tags: vec!["core".into()],
            }),
            base(Event::TagsChanged {
                tags: vec!["core".into(), "v7".into()],
            }),
            base(Event::Retired),
            base(Event::TriggerRequested {
                request: "req-1".into(),
            }),
            base(Event::CredentialsUpdated),
            base(Event::HostKeyReset),
            base(Event::HostKeyAccepted {
                fingerprint: "SHA256:abc".into(),
            }),
            base(Event::PolicyChanged {
                policy: RetryPolicy {
                    interval_secs: 600,
                    ..RetryPolicy::default()
                },
            }),
            base(Event::TimerFired {
                timer: TimerKind::AttemptDeadline,
                due: Timestamp(5),
            }),
        ];
        let outcomes = [
            Outcome::Collected {
                sha256: "ab".repeat(32),
                bytes: 1234,
                host_key: "SHA256:xyz".into(),
                duration_ms: 900,
                routeros_version: Some("7.15.3".into()),
                stored_apart: Some(crate::domain::StoredApart {
                    object: "CONFIG_SNAPSHOT_OBJECTS/t/d/ab".into(),
                    message_bytes: 1_100_000,
                    max_payload: 1_048_576,
                }),
            },
            Outcome::Collected {
                sha256: "cd".repeat(32),
                bytes: 1,
                host_key: "SHA256:xyz".into(),
                duration_ms: 1,
                routeros_version: None,
                stored_apart: None,
            },
            Outcome::Skipped {
                reason: SkipReason::LockHeld,
            },
            Outcome::Failed {
                kind: FailureKind::HostKeyMismatch {
                    presented: "SHA256:new".into(),
                },
                message: "host key changed".into(),
                learned: Default::default(),
            },
            Outcome::Failed {
                kind: FailureKind::Timeout,
                message: "no answer".into(),
                learned: Default::default(),
            },
            Outcome::Failed {
                kind: FailureKind::Timeout,
                message: "no answer after the banner".into(),
                learned: crate::domain::Learned {
                    routeros_major: Some(6),
                    host_key: Some("SHA256:abc".into()),
                    stage: Some(crate::domain::AttemptStage::Read),
                },
            },
        ];
        for outcome in outcomes {
            out.push(base(Event::AttemptFinished {
                attempt: 3,
                outcome,
            }));
        }
        let mut bare = base(Event::Retired);
        bare.correlation = None;
        bare.after = None;
        out.push(bare);
        out
    }

    #[test]
    fn agrees_with_the_domain_on_every_event_type() {
        for env in every_event() {
            let bytes = env.encode().unwrap();
            assert_eq!(encode(&env).unwrap(), bytes, "{}", env.event.name());
            let fast = serde_json::from_slice::<Wire>(&bytes);
            assert!(fast.is_ok(), "the fast path refused {}", env.event.name());
            assert_eq!(decode(&bytes).unwrap(), env);
            assert_eq!(Envelope::decode(&bytes).unwrap(), env);
        }
    }

    #[test]
    fn leaves_anything_unusual_to_the_domain() {
        let env = base(Event::TimerFired {
            timer: TimerKind::Jitter,
            due: Timestamp(9),
        });
        // Tag not first: still decodes (slow path), same result.
        let reordered = br#"{"schema":4,"device":"r1","tenant":"acme","seq":7,"at":1700000000000,"node":"backup-1","correlation":"attempt-3","event":{"due":9,"timer":"jitter","type":"timer_fired"},"after":{"phase":"backoff","deadline":["backoff",1700000300000]}}"#;
        assert_eq!(decode(reordered).unwrap(), env);
        // Errors are the domain's own.
        for bad in [
            &br#"{"schema": 99}"#[..],
            b"not json",
            br#"{"schema":1,"device":"r1","tenant":"acme","seq":1,"at":1,"node":"n","event":{"type":"exploded"}}"#,
        ] {
            assert_eq!(decode(bad).unwrap_err(), Envelope::decode(bad).unwrap_err());
        }
    }

    #[test]
    fn a_schema_1_failure_reads_as_having_learned_nothing() {
        let line = br#"{"schema":1,"device":"r1","tenant":"acme","seq":4,"at":1700000000000,"node":"n","event":{"type":"attempt_finished","attempt":2,"outcome":{"status":"failed","kind":"timeout","message":"no answer"}}}"#;
        let fast = decode(line).unwrap();
        assert_eq!(fast, Envelope::decode(line).unwrap());
        assert_eq!(fast.schema, 1, "the schema it was written with stays");
        match &fast.event {
            Event::AttemptFinished {
                outcome: Outcome::Failed { learned, .. },
                ..
            } => assert!(learned.is_empty()),
            other => panic!("{other:?}"),
        }
        // Written today, an empty `learned` is not written at all: a
        // failure reads the same in both schemas.
        let today = Envelope {
            schema: SCHEMA_VERSION,
            ..fast
        };
        let text = String::from_utf8(encode(&today).unwrap()).unwrap();
        assert!(!text.contains("learned"), "{text}");
    }
}
