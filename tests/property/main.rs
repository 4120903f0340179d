//! Property tests of the pure domain (`cargo test --test property`).
//!
//! Laid out like firezone's tunnel tests: `strategies` generates what may
//! happen to a device, `driver` feeds it to `step` the way the runner does,
//! `reference` is a small model of the retry policy the machine is checked
//! against, and the properties live in `machine`, `codec` and
//! `normalization`. Every property runs 256 cases (proptest's default,
//! pinned here); a failure prints the shrunk input and its seed is kept in
//! `tests/proptest-regressions/` (commit it: it is re-run first).

mod codec;
mod driver;
mod machine;
mod normalization;
mod reference;
mod rules;
mod strategies;

/// The configuration of every property in this target.
pub fn config() -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases: 256,
        ..proptest::test_runner::Config::default()
    }
}
