//! The normalizer and the completeness gate on arbitrary device output:
//! never a panic; normalizing twice changes nothing; the hash is the hash
//! of the normalized text.
#![no_main]

use confkeep::domain::normalize;
use confkeep::effects::ssh::output;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The gate sees raw bytes, with the exit status taken from the input.
    let status = u32::from(data.first().copied().unwrap_or(0) % 3 == 0);
    let _ = output::check(data, b"", status);
    let _ = output::is_v6_syntax_error(data, data);
    // What a message quotes is bounded (each `=` shows as `=…`) and
    // carries no control characters.
    if let Some(line) = output::first_line(data) {
        assert!(line.chars().count() <= 2 * output::QUOTE_MAX + 1, "{line:?}");
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }
    let text = String::from_utf8_lossy(data);
    let _ = normalize::find_header(&text);
    let once = normalize::normalize(&text);
    let twice = normalize::normalize(&once);
    assert_eq!(once, twice, "normalization is not idempotent");
    let (normalized, hash) = normalize::normalized_hash(&text);
    assert_eq!(normalized, once);
    assert_eq!(hash, normalize::sha256_hex(&once));
});
