//! RouterOS export normalization (version 2): each rule on exports written
//! here, the hash stability on every real export in the shared fixtures
//! folder, and the `confkeep normalize` command on bad input.
//!
//! The real exports are other people's routers: they are read, never copied
//! and never printed (only their file names and counts are).

mod common;
use common::fixtures_dir;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use confkeep::domain::normalize::{
    NORMALIZATION_VERSION, NotAnExport, check_export, find_header, is_volatile_comment, normalize,
    normalized_hash, parse_header_line, sha256_hex,
};

const BODY: &str = "\
# software id = ABCD-1234
#
# model = RB5009UG+S+
# serial number = HEX0123456
/interface bridge
add name=bridge1
/ip address
add address=192.0.2.1/24 interface=bridge1
";

fn export(header: &str) -> String {
    format!("{header}\n{BODY}")
}

// === the header, in each of its real forms ===

#[test]
fn the_version_is_two() {
    assert_eq!(NORMALIZATION_VERSION, 2);
}

#[test]
fn every_header_form_is_recognised_and_dropped() {
    for (line, version, major) in [
        ("# jun/12/2023 16:40:52 by RouterOS 7.9", "7.9", 7),
        ("# jan/02/1970 00:01:46 by RouterOS 6.20", "6.20", 6),
        ("# 2023-07-08 19:33:27 by RouterOS 7.10.1", "7.10.1", 7),
        ("# 2024/01/15 10:30:00 by RouterOS 7.14", "7.14", 7),
    ] {
        let header = parse_header_line(line).unwrap_or_else(|| panic!("{line}"));
        assert_eq!(header.version, version);
        assert_eq!(header.major, major);
        let text = export(line);
        assert_eq!(find_header(&text).unwrap().version, version);
        assert_eq!(normalize(&text), BODY, "{line}");
    }
}

#[test]
fn lines_that_only_look_like_a_header_are_not_one() {
    for line in [
        "# jun/12/2023 16:40 by RouterOS 7.9",
        "# Jun/12/2023 16:40:52 by RouterOS 7.9",
        "# 2023-7-8 19:33:27 by RouterOS 7.10.1",
        "# 2023-07-08 19:33:27 by routeros 7.10.1",
        "# 2023-07-08 19:33:27 by RouterOS",
        "# 2023-07-08 19:33:27 by RouterOS 7.10 extra",
        "# 2023-07-08 19:33:27 by RouterOS seven",
        "# software id = ABCD-1234",
    ] {
        assert_eq!(parse_header_line(line), None, "{line}");
    }
}

#[test]
fn the_header_is_dropped_only_in_the_leading_comment_block() {
    let header = "# 2023-07-08 19:33:27 by RouterOS 7.10.1";
    let text = format!("{header}\n/system script\nadd name=x\n{header}\n");
    assert_eq!(
        normalize(&text),
        format!("/system script\nadd name=x\n{header}\n")
    );
}

#[test]
fn two_exports_differing_only_in_header_time_hash_the_same() {
    let forms = [
        "# jun/12/2023 16:40:52 by RouterOS 7.15.3",
        "# dec/31/2024 23:59:59 by RouterOS 7.15.3",
        "# 2023-07-08 19:33:27 by RouterOS 7.15.3",
        "# 2024/01/15 10:30:00 by RouterOS 7.15.3",
    ];
    let hashes: Vec<String> = forms
        .iter()
        .map(|h| normalized_hash(&export(h)).1)
        .collect();
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");
    // A change of configuration changes the hash.
    let other = export(forms[0]).replace("bridge1", "bridge2");
    assert_ne!(normalized_hash(&other).1, hashes[0]);
}

// === line endings, continuation, whitespace ===

#[test]
fn crlf_becomes_lf() {
    let crlf = export("# 2024-06-19 14:14:47 by RouterOS 7.15").replace('\n', "\r\n");
    let normalized = normalize(&crlf);
    assert!(!normalized.contains('\r'));
    assert_eq!(normalized, BODY);
}

#[test]
fn continuation_lines_are_joined() {
    let text = "/ip firewall filter\nadd action=accept chain=input comment=\\\n    \"allow ssh\" dst-port=22 \\\n    protocol=tcp\n";
    assert_eq!(
        normalize(text),
        "/ip firewall filter\nadd action=accept chain=input comment=\"allow ssh\" dst-port=22 protocol=tcp\n"
    );
    // CRLF continuations too.
    assert_eq!(normalize(&text.replace('\n', "\r\n")), normalize(text));
}

#[test]
fn an_odd_run_of_backslashes_continues_an_even_run_does_not() {
    // `\\\` = an escaped backslash, then the continuation.
    let odd = "/system script\nadd source=\"a\\\\\\\n    b\"\n";
    assert_eq!(normalize(odd), "/system script\nadd source=\"a\\\\b\"\n");
    // `\\` = an escaped backslash at the end of a line: no continuation.
    let even = "/system script\nadd source=\"a\\\\\n    b\"\n";
    assert_eq!(
        normalize(even),
        "/system script\nadd source=\"a\\\\\n    b\"\n"
    );
    // A lone backslash before the end of input or a blank line stays text.
    assert_eq!(normalize("/a\nset x=\\\n"), "/a\nset x=\\\n");
    assert_eq!(normalize("/a\nset x=\\\n\n/b\n"), "/a\nset x=\\\n\n/b\n");
}

#[test]
fn script_sources_with_escaped_newlines_join_like_routeros_wraps_them() {
    // The style of RouterOS 7.15 script exports: `\r\` + newline + `    \n`.
    let text = "/system script\nadd name=s source=\":log info \\\"x\\\"\\r\\\n    \\n:put \\$y\"\n";
    assert_eq!(
        normalize(text),
        "/system script\nadd name=s source=\":log info \\\"x\\\"\\r\\n:put \\$y\"\n"
    );
}

#[test]
fn trailing_whitespace_is_trimmed_and_blank_runs_collapse() {
    let text = "\n\n/interface bridge   \nadd name=b1\t\n\n\n\n/ip address\n\n\nadd address=192.0.2.1/24\n\n\n";
    assert_eq!(
        normalize(text),
        "/interface bridge\nadd name=b1\n\n/ip address\n\nadd address=192.0.2.1/24\n"
    );
}

#[test]
fn the_text_ends_with_exactly_one_newline() {
    for text in [
        "/a\nset x=1",
        "/a\nset x=1\n",
        "/a\nset x=1\n\n\n",
        "/a\nset x=1\r\n\r\n",
    ] {
        assert_eq!(normalize(text), "/a\nset x=1\n", "{text:?}");
    }
}

// === comments ===

#[test]
fn volatile_comments_are_dropped() {
    let volatile = [
        "# ether5 not ready",
        "# inactive time",
        "#   inactive time: 00:00:01",
        "# received packet from 192.0.2.9 bad format",
        "# poe-out status: short_circuit",
        "# PoE out status: powered_on",
        "# Firmware upgraded successfully, please reboot for changes to take effect!",
        "# please restart the device",
        "# managed by CAPsMAN",
        "# channel: 5180/20-Ceee/ac/P(20dBm), SSID: home, CAPsMAN forwarding",
    ];
    for line in volatile {
        assert!(is_volatile_comment(line), "{line}");
        let text =
            format!("/interface ethernet\n{line}\nset [ find default-name=ether5 ] comment=x\n");
        assert_eq!(
            normalize(&text),
            "/interface ethernet\nset [ find default-name=ether5 ] comment=x\n",
            "{line}"
        );
    }
}

#[test]
fn identity_comments_and_operator_comments_are_kept() {
    for line in [
        "# software id = ABCD-1234",
        "# model = RB5009UG+S+",
        "# serial number = HEX0123456",
        "# disabled",
        "# No IP address on interface",
        "#error exporting /ip/firewall/calea",
    ] {
        assert!(!is_volatile_comment(line), "{line}");
        let text = format!("/x\n{line}\nset y=1\n");
        assert_eq!(normalize(&text), text, "{line}");
    }
    // In the leading block too: only the header goes.
    assert_eq!(
        normalize(&export("# 2024-06-19 14:14:47 by RouterOS 7.15")),
        BODY
    );
    assert!(
        BODY.contains("# software id")
            && BODY.contains("# model")
            && BODY.contains("# serial number")
    );
}

#[test]
fn a_volatile_comment_wrapped_over_two_lines_is_dropped_whole() {
    let text = "/interface wireless\n# managed by CAPsMAN, channel and SSID \\\n    are set by the controller\nset [ find default-name=wlan1 ] disabled=no\n";
    assert_eq!(
        normalize(text),
        "/interface wireless\nset [ find default-name=wlan1 ] disabled=no\n"
    );
}

// === idempotence and the hash ===

#[test]
fn normalizing_twice_changes_nothing() {
    let samples = [
        export("# jun/12/2023 16:40:52 by RouterOS 7.9").replace('\n', "\r\n"),
        "/a\nset x=\\\n".to_owned(),
        "/a\nset x=\\\n\n\n/b \\\n  c\n".to_owned(),
        "\n\n# only a comment\n\n".to_owned(),
        "/s\nadd source=\"a\\\\\\\n    b\\\\\n    c\"\n".to_owned(),
        String::new(),
    ];
    for text in samples {
        let once = normalize(&text);
        assert_eq!(normalize(&once), once, "{text:?}");
        assert!(once.ends_with('\n') && !once.ends_with("\n\n"), "{once:?}");
    }
}

#[test]
fn the_hash_is_lowercase_hex_sha256() {
    assert_eq!(
        sha256_hex(""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let (normalized, hash) = normalized_hash(&export("# 2024-06-19 14:14:47 by RouterOS 7.15"));
    assert_eq!(hash, sha256_hex(&normalized));
    assert_eq!(hash.len(), 64);
    assert!(
        hash.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
}

// === what is not an export ===

#[test]
fn check_export_names_what_is_wrong() {
    assert_eq!(check_export(b""), Err(NotAnExport::Empty));
    assert_eq!(check_export(b"  \n\r\n\t"), Err(NotAnExport::Empty));
    assert_eq!(
        check_export(b"\x89PNG\r\n\x1a\n"),
        Err(NotAnExport::Binary {
            offset: 6,
            byte: 0x1a
        })
    );
    assert_eq!(
        check_export(b"/ip address\nadd comment=\xff\n"),
        Err(NotAnExport::NotText { offset: 24 })
    );
    assert!(matches!(
        check_export(b"hello world\nthis is not an export\n"),
        Err(NotAnExport::NoExport { first_line }) if first_line == "hello world"
    ));
    assert!(check_export(export("# 2024-06-19 14:14:47 by RouterOS 7.15").as_bytes()).is_ok());
    assert!(check_export(b"/system identity\nset name=r1\n").is_ok());
}

// === the real exports ===

fn real_exports() -> Vec<(String, Vec<u8>)> {
    let Some(dir) = fixtures_dir() else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rsc"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, bytes)
        })
        .collect()
}

/// The same export with its header time rewritten in each real form.
fn header_variants(text: &str, name: &str) -> Vec<String> {
    let (first, rest) = text
        .split_once('\n')
        .unwrap_or_else(|| panic!("{name}: one line"));
    let cr = if first.ends_with('\r') { "\r" } else { "" };
    let version = parse_header_line(first)
        .unwrap_or_else(|| panic!("{name}: the first line is not an export header"))
        .version;
    [
        format!("# feb/29/2028 03:04:05 by RouterOS {version}"),
        format!("# 2031-12-01 23:59:58 by RouterOS {version}"),
        format!("# 1999/01/01 00:00:00 by RouterOS {version}"),
    ]
    .into_iter()
    .map(|h| format!("{h}{cr}\n{rest}"))
    .collect()
}

#[test]
fn every_real_export_hashes_the_same_whatever_its_header_time() {
    let exports = real_exports();
    if fixtures_dir().is_some() {
        assert!(
            !exports.is_empty(),
            "the fixtures folder holds no .rsc file"
        );
    }
    let mut hashes = Vec::new();
    for (name, bytes) in &exports {
        let text = check_export(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (normalized, hash) = normalized_hash(text);
        for variant in header_variants(text, name) {
            assert_ne!(variant.as_bytes(), bytes.as_slice(), "{name}: rewritten");
            assert_eq!(
                normalized_hash(&variant).1,
                hash,
                "{name}: a new header time changed the hash"
            );
        }
        assert_eq!(normalize(&normalized), normalized, "{name}: not idempotent");
        assert!(!normalized.contains('\r'), "{name}: CR left");
        assert!(
            normalized.ends_with('\n') && !normalized.ends_with("\n\n"),
            "{name}"
        );
        assert!(
            normalized.lines().all(|l| parse_header_line(l).is_none()),
            "{name}: the header is left"
        );
        assert!(
            normalized.lines().all(|l| l == l.trim_end()),
            "{name}: trailing whitespace left"
        );
        assert!(!normalized.contains("\n\n\n"), "{name}: a blank run left");
        let kept = |needle: &str| !text.contains(needle) || normalized.contains(needle);
        for needle in ["# software id", "# model", "# serial number"] {
            assert!(kept(needle), "{name}: {needle} dropped");
        }
        hashes.push(hash);
    }
    let mut distinct = hashes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        hashes.len(),
        "two different exports hash the same"
    );
    println!("checked {} real RouterOS exports", exports.len());
}

#[test]
fn real_exports_lose_their_continuations_and_volatile_comments() {
    for (name, bytes) in real_exports() {
        let text = std::str::from_utf8(&bytes).unwrap();
        let normalized = normalize(text);
        for line in normalized.lines() {
            assert!(
                !is_volatile_comment(line),
                "{name}: a volatile comment left"
            );
            let trailing = line.bytes().rev().take_while(|&b| b == b'\\').count();
            assert!(trailing % 2 == 0, "{name}: a continuation left unjoined");
        }
    }
}

// === the command ===

fn confkeep_normalize(args: &[&str], file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_confkeep"))
        .arg("normalize")
        .args(args)
        .arg(file)
        .output()
        .expect("run confkeep")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn the_command_prints_the_normalized_text_or_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let text = export("# 2024-06-19 14:14:47 by RouterOS 7.15").replace('\n', "\r\n");
    let file = write(dir.path(), "r1.rsc", text.as_bytes());
    let out = confkeep_normalize(&[], &file);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), BODY);
    let out = confkeep_normalize(&["--hash"], &file);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{}\n", sha256_hex(BODY))
    );
}

#[test]
fn the_command_refuses_what_is_not_an_export_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 4] = [
        ("empty.rsc", b"", "empty"),
        ("blank.rsc", b"\n\n  \n", "empty"),
        ("image.rsc", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "binary"),
        (
            "notes.txt",
            b"shopping list\n- milk\n",
            "no RouterOS export header",
        ),
    ];
    for (name, bytes, expected) in cases {
        let file = write(dir.path(), name, bytes);
        for args in [&[][..], &["--hash"][..]] {
            let out = confkeep_normalize(args, &file);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
            assert!(out.stdout.is_empty(), "{name}: printed something");
            assert!(
                stderr.contains(name),
                "{name}: the file is not named: {stderr}"
            );
            assert!(stderr.contains(expected), "{name}: {stderr}");
            assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        }
    }
    let missing = dir.path().join("missing.rsc");
    let out = confkeep_normalize(&[], &missing);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.rsc"));
}
