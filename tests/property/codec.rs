//! Properties of the JSON codec: every event and envelope survives the trip,
//! and no input bytes make decoding panic.

use confkeep::domain::{DecodeError, Effect, Envelope, SCHEMA_VERSION};
use proptest::prelude::*;

use crate::driver::Run;
use crate::strategies;

proptest! {
    #![proptest_config(crate::config())]

    /// Every event, in an envelope with any ids, times and texts, comes back
    /// equal from JSON.
    #[test]
    fn every_envelope_round_trips_through_json(env in strategies::envelope()) {
        let bytes = env.encode().unwrap();
        prop_assert_eq!(Envelope::decode(&bytes), Ok(env.clone()));
        let event_json = serde_json::to_string(&env.event).unwrap();
        let event: confkeep::domain::Event = serde_json::from_str(&event_json).unwrap();
        prop_assert_eq!(event, env.event);
    }

    /// Logs and effects of real runs (with `after` recorded) round-trip too.
    #[test]
    fn recorded_logs_and_effects_round_trip(actions in strategies::story(60)) {
        let mut effects: Vec<Effect> = Vec::new();
        let run = Run::play(&actions, |s| {
            effects.extend(s.transition.effects.iter().cloned());
            Ok(())
        })?;
        for env in &run.log {
            prop_assert_eq!(&Envelope::decode(&env.encode().unwrap()).unwrap(), env);
        }
        let json = serde_json::to_string(&effects).unwrap();
        let back: Vec<Effect> = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, effects);
    }

    /// Arbitrary bytes never panic the decoder; they are refused with a reason.
    #[test]
    fn decoding_any_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Err(err) = Envelope::decode(&bytes) {
            prop_assert!(!err.to_string().is_empty());
        }
    }

    /// An envelope with an event type this build does not know is refused
    /// naming that type; one from a newer schema is refused naming its version.
    #[test]
    fn unknown_types_and_newer_schemas_are_named(
        env in strategies::envelope(),
        unknown in "[a-z_]{1,20}",
        newer in (SCHEMA_VERSION + 1)..u32::MAX,
    ) {
        let mut json: serde_json::Value = serde_json::from_slice(&env.encode().unwrap()).unwrap();
        if !confkeep::domain::event::EVENT_TYPES.contains(&unknown.as_str()) {
            json["event"]["type"] = serde_json::json!(unknown);
            let err = Envelope::decode(json.to_string().as_bytes()).unwrap_err();
            prop_assert_eq!(&err, &DecodeError::UnknownEvent { found: unknown.clone() });
            prop_assert!(err.to_string().contains(&unknown));
        }
        json["schema"] = serde_json::json!(newer);
        let err = Envelope::decode(json.to_string().as_bytes()).unwrap_err();
        prop_assert_eq!(err, DecodeError::NewerSchema { found: newer, supported: SCHEMA_VERSION });
    }
}
