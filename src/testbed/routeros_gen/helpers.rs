//! Small deterministic helpers: civil time for the header, cheap hashes
//! for the volatile comments, and the random codes, names, MACs, passwords
//! and keys drawn from a router's ChaCha8 stream.
//!
//! Each draw helper takes the stream it draws from, never a thread RNG, so
//! a seed gives the same router on every machine.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub(super) const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// UTC civil time of a Unix millisecond timestamp (Hinnant's algorithm).
pub(super) fn civil(at_millis: u64) -> (i64, u32, u32, u32, u32, u32) {
    let secs = (at_millis / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (sod / 3600) as u32,
        (sod / 60 % 60) as u32,
        (sod % 60) as u32,
    )
}

/// SplitMix64 finalizer: a cheap, well-spread hash of a number.
pub(super) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

pub(super) fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

pub(super) fn code(rng: &mut ChaCha8Rng, n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

pub(super) fn hex_upper(rng: &mut ChaCha8Rng, n: usize) -> String {
    (0..n)
        .map(|_| b"0123456789ABCDEF"[rng.random_range(0..16)] as char)
        .collect()
}

pub(super) fn password(rng: &mut ChaCha8Rng, n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

pub(super) fn mac(rng: &mut ChaCha8Rng) -> String {
    let oui = ["DC:2C:6E", "48:8F:5A", "C4:AD:34", "74:4D:28", "18:FD:74"];
    format!(
        "{}:{:02X}:{:02X}:{:02X}",
        oui[rng.random_range(0..oui.len())],
        rng.random::<u8>(),
        rng.random::<u8>(),
        rng.random::<u8>()
    )
}

/// A WireGuard-style key: 32 random bytes, standard base64 with padding.
pub(super) fn b64key(rng: &mut ChaCha8Rng) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s: String = (0..42)
        .map(|_| B64[rng.random_range(0..64)] as char)
        .collect();
    // The last character of 32 bytes in base64 carries 4 significant bits.
    s.push(B64[rng.random_range(0..16) * 4] as char);
    s.push('=');
    s
}

pub(super) fn identity(rng: &mut ChaCha8Rng) -> String {
    let sites = [
        "ams", "rtm", "utr", "ehv", "gro", "nij", "zwo", "lei", "hlm", "bre",
    ];
    let roles = ["edge", "core", "branch", "gw", "ap", "border"];
    format!(
        "{}-{}{}",
        sites[rng.random_range(0..sites.len())],
        roles[rng.random_range(0..roles.len())],
        rng.random_range(1..=40u32)
    )
}

pub(super) fn ssid(rng: &mut ChaCha8Rng) -> String {
    let names = ["Office", "Staff WiFi", "Warehouse", "Lab-5G", "Shop floor"];
    names[rng.random_range(0..names.len())].to_owned()
}
