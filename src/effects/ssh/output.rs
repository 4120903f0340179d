//! What the device answered: the completeness gate between bytes read over
//! SSH and a snapshot.
//!
//! Peers store cut-off exports and RouterOS error messages as good backups;
//! here nothing counts unless all of this holds:
//!
//! - the command ended with exit status 0 (a missing exit status is a cut-off
//!   export, checked by the reader before this gate);
//! - no RouterOS error: no logical line of stdout starts with one of
//!   [`ROUTEROS_ERRORS`], and stderr holds none of them;
//! - the bytes are an export by [`normalize::check_export`] (text, not
//!   binary, not empty);
//! - the export's own header (`# <time> by RouterOS <version>`) is in its
//!   leading comments: its version becomes the snapshot's `routeros_version`.
//!
//! Errors are checked on *logical* lines (continuations joined, as
//! [`normalize::normalize`] does) and only at their start, so a script whose
//! source prints `Error: ...` is not mistaken for a failed export, while
//! RouterOS's own messages (`bad command name show-sensitive (line 1 column
//! 9)`) always start a line.
//!
//! Messages quote at most one line of what the device said, cut to
//! [`QUOTE_MAX`] characters, control characters replaced and every value
//! after `=` hidden: an answer that is not an export may still be config.

use crate::domain::normalize::{self, ExportHeader, NotAnExport};

/// RouterOS's error messages, as they start a line of its answer.
pub const ROUTEROS_ERRORS: [&str; 3] = ["bad command name", "expected end of command", "Error:"];

/// What RouterOS 6 answers to `/export show-sensitive` (a syntax error: the
/// argument does not exist there).
pub const V6_SYNTAX_ERROR: &str = "expected end of command";

/// At most this many characters of the device's answer are quoted.
pub const QUOTE_MAX: usize = 60;

/// A complete export that passed the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoodExport {
    pub header: ExportHeader,
}

/// Why an answer is not a complete export (already sanitised for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadExport {
    /// The command exited with a non-zero status.
    ExitStatus { status: u32, first_line: String },
    /// RouterOS said it could not run the command.
    RouterOsError { line: String },
    /// Not a RouterOS export at all (empty, binary, not text, no menu line).
    NotAnExport(NotAnExport),
    /// Looks like config, but without the export's header: not an export we
    /// can vouch for as complete.
    NoHeader { first_line: String },
}

impl std::fmt::Display for BadExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadExport::ExitStatus { status, first_line } => write!(
                f,
                "the export command exited with status {status}; first line: {first_line:?}"
            ),
            BadExport::RouterOsError { line } => {
                write!(f, "RouterOS answered with an error: {line:?}")
            }
            BadExport::NotAnExport(NotAnExport::NoExport { first_line }) => write!(
                f,
                "not a RouterOS export (no `# <time> by RouterOS <version>` header, no menu line); first line: {:?}",
                sanitise(first_line)
            ),
            BadExport::NotAnExport(other) => write!(f, "{other}"),
            BadExport::NoHeader { first_line } => write!(
                f,
                "no export header (`# <time> by RouterOS <version>`) in the leading comments; first line: {first_line:?}"
            ),
        }
    }
}

/// Whether the answer is RouterOS 6 refusing `show-sensitive` (so the same
/// device must be asked again with plain `/export`).
pub fn is_v6_syntax_error(stdout: &[u8], stderr: &[u8]) -> bool {
    let first = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.trim_start().starts_with(V6_SYNTAX_ERROR))
    };
    first(stdout) || first(stderr)
}

/// The completeness gate (see the module doc).
pub fn check(stdout: &[u8], stderr: &[u8], exit_status: u32) -> Result<GoodExport, BadExport> {
    if exit_status != 0 {
        let first_line = first_line(stdout).or_else(|| first_line(stderr));
        return Err(BadExport::ExitStatus {
            status: exit_status,
            first_line: first_line.unwrap_or_default(),
        });
    }
    if let Some(line) = routeros_error_in_stderr(stderr) {
        return Err(BadExport::RouterOsError { line });
    }
    let text = normalize::check_export(stdout).map_err(BadExport::NotAnExport)?;
    if let Some(line) = routeros_error_in_export(text) {
        return Err(BadExport::RouterOsError { line });
    }
    match normalize::find_header(text) {
        Some(header) => Ok(GoodExport { header }),
        None => Err(BadExport::NoHeader {
            first_line: first_line(stdout).unwrap_or_default(),
        }),
    }
}

/// The first RouterOS error starting a logical line of an export.
fn routeros_error_in_export(text: &str) -> Option<String> {
    // The same joining as normalization: the check must see what is hashed.
    let normalized = normalize::normalize(text);
    normalized
        .lines()
        .map(str::trim_start)
        .find(|l| ROUTEROS_ERRORS.iter().any(|e| l.starts_with(e)))
        .map(sanitise)
}

/// The first line of stderr holding a RouterOS error anywhere.
fn routeros_error_in_stderr(stderr: &[u8]) -> Option<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .find(|l| ROUTEROS_ERRORS.iter().any(|e| l.contains(e)))
        .map(sanitise)
}

/// The first non-blank line of an answer, sanitised.
pub fn first_line(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .find(|l| !l.trim().is_empty())
        .map(sanitise)
}

/// One line of the device's answer made safe to quote: at most
/// [`QUOTE_MAX`] characters, control characters as `?`, and every value after
/// an `=` hidden (a stray config line may carry a password).
pub fn sanitise(line: &str) -> String {
    let mut out = String::new();
    let mut hiding = false;
    for (count, c) in line.trim().chars().enumerate() {
        if count == QUOTE_MAX {
            out.push('…');
            break;
        }
        if hiding {
            if c.is_whitespace() {
                hiding = false;
                out.push(' ');
            }
            continue;
        }
        match c {
            '=' => {
                out.push_str("=…");
                hiding = true;
            }
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const V7: &str = "# 2024-06-19 14:14:47 by RouterOS 7.15\n# software id = ABCD\n/system identity\nset name=r1\n";

    #[test]
    fn a_complete_export_passes_with_its_version() {
        let good = check(V7.as_bytes(), b"", 0).unwrap();
        assert_eq!(good.header.version, "7.15");
        assert_eq!(good.header.major, 7);
    }

    #[test]
    fn a_non_zero_exit_status_fails() {
        let bad = check(V7.as_bytes(), b"", 1).unwrap_err();
        assert!(matches!(bad, BadExport::ExitStatus { status: 1, .. }));
    }

    #[test]
    fn routeros_errors_at_a_line_start_fail() {
        for error in ROUTEROS_ERRORS {
            let text = format!("{V7}{error} something (line 1 column 2)\n");
            let bad = check(text.as_bytes(), b"", 0).unwrap_err();
            assert!(matches!(bad, BadExport::RouterOsError { .. }), "{error}");
            let bad = check(V7.as_bytes(), format!("{error} x\n").as_bytes(), 0).unwrap_err();
            assert!(matches!(bad, BadExport::RouterOsError { .. }), "{error}");
        }
    }

    #[test]
    fn an_error_inside_a_script_source_is_config() {
        let script = r#"/system script
add name=s source=":log error \"Error: \r\
    \nError: disk full\""
#error exporting /ip/firewall/calea
"#;
        let text = format!("{V7}{script}");
        assert!(check(text.as_bytes(), b"", 0).is_ok());
    }

    #[test]
    fn an_error_split_by_a_continuation_is_still_seen() {
        let text = format!("{V7}expected end \\\n    of command (line 1 column 9)\n");
        assert!(matches!(
            check(text.as_bytes(), b"", 0).unwrap_err(),
            BadExport::RouterOsError { .. }
        ));
    }

    #[test]
    fn no_header_fails_even_with_menu_lines() {
        let bad = check(b"/system identity\nset name=r1\n", b"", 0).unwrap_err();
        assert!(matches!(bad, BadExport::NoHeader { .. }));
        assert!(!bad.to_string().contains("r1"), "{bad}");
    }

    #[test]
    fn garbage_is_not_an_export() {
        for garbage in [&b""[..], b"\x00\x01binary", b"hello\n", b"\xff\xfe text"] {
            assert!(matches!(
                check(garbage, b"", 0).unwrap_err(),
                BadExport::NotAnExport(_)
            ));
        }
    }

    #[test]
    fn the_v6_syntax_error_is_recognised_on_either_stream() {
        let answer = b"expected end of command (line 1 column 9)\n";
        assert!(is_v6_syntax_error(answer, b""));
        assert!(is_v6_syntax_error(b"", answer));
        assert!(!is_v6_syntax_error(V7.as_bytes(), b""));
    }

    #[test]
    fn quotes_hide_values_and_control_characters_and_are_capped() {
        assert_eq!(
            sanitise("add password=hunter2 name=x"),
            "add password=… name=…"
        );
        assert_eq!(sanitise("a\u{1b}[31mb"), "a?[31mb");
        let long = "x".repeat(500);
        assert_eq!(sanitise(&long).chars().count(), QUOTE_MAX + 1);
    }
}
