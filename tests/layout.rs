//! The layout is the architecture: which room of `src/` may use which.
//! This test reads every `crate::…` path in the source (the `use` lines
//! and inline paths, grouped imports included) and holds the rules the
//! README's "Layout" section states:
//!
//! - `domain` uses nothing else of the crate, and no IO, clock, runtime,
//!   randomness or logging;
//! - `store` uses `domain`; `effects` and `projections` use `domain` and
//!   `store`, never each other; `simulation` and `testbed` use `domain`;
//! - the leaf helpers (`redact`, `private_fs`) use nothing of the crate, and
//!   any room may use them;
//! - only the face (`api/`, `cli/`, `web/`, `daemon.rs`, `main.rs`, `lib.rs`) uses
//!   everything — `testbed` included.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LEAVES: [&str; 2] = ["redact", "private_fs"];

/// The rooms a room may use besides itself and the leaves; `None`: any.
fn allowed(room: &str) -> Option<&'static [&'static str]> {
    match room {
        "domain" => Some(&[]),
        "store" => Some(&["domain"]),
        "effects" | "projections" => Some(&["domain", "store"]),
        "simulation" | "testbed" => Some(&["domain"]),
        "api" | "cli" | "daemon" | "web" | "main" | "lib" => None,
        _ => Some(&[]), // a leaf, or a new room: it must be placed here first
    }
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The room of a file: its first component under `src/`, without `.rs`.
fn room(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// The code of a file without its comments (line comments and doc
/// comments: a doc may name any room).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every room named after `crate::` (`crate::x::…` and `crate::{x, y::…}`).
fn rooms_used(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = code[i + "crate::".len()..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group only.
            for part in split_top(group) {
                let name = ident(part.trim());
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// The top-level comma-separated parts of a `{…}` group (up to its end).
fn split_top(group: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut from) = (0usize, 0usize);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                parts.push(&group[from..i]);
                return parts;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&group[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&group[from..]);
    parts
}

/// What `room`'s source uses that it may not.
fn violations(room: &str, may: &[&str], text: &str) -> Vec<String> {
    rooms_used(&code(text))
        .into_iter()
        .filter(|used| {
            used != room
                && used != "self"
                && !LEAVES.contains(&used.as_str())
                && !may.contains(&used.as_str())
        })
        .map(|used| format!("{room} uses {used}"))
        .collect()
}

#[test]
fn every_room_uses_only_what_the_layout_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut broken: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &files {
        let room = room(&src, file);
        let Some(may) = allowed(&room) else { continue };
        let text = std::fs::read_to_string(file).unwrap();
        let wrong = violations(&room, may, &text);
        if !wrong.is_empty() {
            broken.insert(
                file.strip_prefix(&src).unwrap().display().to_string(),
                wrong,
            );
        }
    }
    assert!(broken.is_empty(), "layout rules broken: {broken:#?}");
    assert!(files.len() > 40, "only {} source files found", files.len());
}

/// Randomness from outside (the OS, a thread's generator) is banned; a
/// generator the driver seeds (`schedule::Jitter`) is deterministic and
/// allowed: one seed reproduces a run.
#[test]
fn the_domain_does_no_io_and_reads_no_clock() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
    let mut files = Vec::new();
    sources(&src, &mut files);
    for file in &files {
        let text = code(&std::fs::read_to_string(file).unwrap());
        for banned in [
            "tokio",
            "std::fs",
            "std::net",
            "tracing",
            "thread_rng",
            "rand::rng",
            "from_os_rng",
            "OsRng",
            "from_entropy",
            "getrandom",
            "SystemTime",
            "Instant",
        ] {
            assert!(!text.contains(banned), "{} uses {banned}", file.display());
        }
    }
}

#[test]
fn the_reader_sees_grouped_and_inline_paths() {
    let used = rooms_used(&code(
        "use crate::{domain::{A, B}, store::X};\nfn f() { crate::effects::g(); }\n// crate::api in a comment",
    ));
    let names: Vec<&str> = used.iter().map(String::as_str).collect();
    assert_eq!(names, ["domain", "effects", "store"]);
    assert!(rooms_used(&code("// crate::api\nlet x = 1;")).is_empty());
    // And a broken rule is caught.
    let store = allowed("store").unwrap();
    assert_eq!(
        violations("store", store, "use crate::{domain::X, effects::runner};"),
        ["store uses effects"]
    );
    let effects = allowed("effects").unwrap();
    assert_eq!(
        violations(
            "effects",
            effects,
            "fn f() { crate::testbed::sim_fleet::x() }"
        ),
        ["effects uses testbed"]
    );
    assert!(violations("effects", effects, "use crate::redact::x;").is_empty());
}
