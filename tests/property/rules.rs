//! The rules' fingerprint, pinned next to `RULES_VERSION`: a checkpoint is
//! trusted only by the rules that wrote it, so a change of what `step`
//! decides must come with a bump of the version. A fixed set of stories
//! (proptest's deterministic runner) is played through `step`; every
//! transition (state, effects, disposition) goes into one SHA-256.
//!
//! When this test fails: if `step` now decides differently, or
//! `DeviceState` holds other fields, bump `RULES_VERSION` and pin the new
//! pair; if only the generators changed, pin the new fingerprint alone.
//!
//! A checkpoint's state must also read back as it was written: the
//! round-trip property below.

use confkeep::domain::{DeviceState, RULES_VERSION};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use sha2::{Digest, Sha256};

use crate::driver::Run;
use crate::strategies::story;

/// The version and the fingerprint of its rules.
const PINNED: (u32, &str) = (
    1,
    "1c84dd0b03fb41c987560248b4bd7e5f2f0d90a564d20054e7d04b139504a5d7",
);

fn fingerprint() -> String {
    let mut runner = TestRunner::deterministic();
    let mut hash = Sha256::new();
    for _ in 0..64 {
        let actions = story(120).new_tree(&mut runner).unwrap().current();
        Run::play(&actions, |s| {
            hash.update(format!("{:?}", s.transition).as_bytes());
            Ok(())
        })
        .unwrap();
    }
    hex::encode(hash.finalize())
}

#[test]
fn the_rules_fingerprint_is_pinned_with_their_version() {
    let now = fingerprint();
    assert_eq!(
        (RULES_VERSION, now.as_str()),
        PINNED,
        "step's rules changed: bump RULES_VERSION if they decide differently (or the state's fields changed), then pin (version, fingerprint)"
    );
}

proptest! {
    /// Every state a story reaches reads back from its checkpoint form.
    #[test]
    fn a_state_reads_back_from_its_checkpoint_form(actions in story(60)) {
        let mut states: Vec<DeviceState> = Vec::new();
        Run::play(&actions, |s| {
            states.push(s.transition.state.clone());
            Ok(())
        })?;
        for state in states {
            let json = serde_json::to_string(&state).unwrap();
            let back: DeviceState = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, state);
        }
    }
}
