//! RouterOS export normalization and its SHA-256.
//!
//! Two exports of the same configuration must hash the same, whatever the
//! clock said and whatever the device's runtime state printed. The rules
//! (version [`NORMALIZATION_VERSION`]), applied in this order:
//!
//! 1. `\r\n` becomes `\n`.
//! 2. Backslash continuation lines are joined: a line ending in an odd number
//!    of backslashes loses that backslash, the newline, and the next line's
//!    leading indentation. (An even number is an escaped backslash, not a
//!    continuation.)
//! 3. In the leading comment block only, the export's timestamp header is
//!    dropped in each of its real forms: `# jun/12/2023 16:40:52 by RouterOS 7.9`,
//!    `# 2023-07-08 19:33:27 by RouterOS 7.10.1`, `# 2024/01/15 10:30:00 by RouterOS 7.14`.
//!    `# software id`, `# model` and `# serial number` are kept.
//! 4. Machine-generated volatile comment lines are dropped anywhere: interface
//!    `not ready`, `inactive time`, `received packet … bad format`, PoE status,
//!    firmware-upgraded and please-reboot/restart notices, CAPsMAN `managed by`
//!    and `channel:` notes.
//! 5. Trailing whitespace is trimmed, leading blank lines dropped, runs of
//!    blank lines collapsed to one, and the text ends with exactly one newline.
//!
//! Normalization is idempotent: normalizing normalized text changes nothing.

use sha2::{Digest, Sha256};

/// Version of the rules above. Bump it when a rule changes: hashes computed
/// under another version are not comparable.
pub const NORMALIZATION_VERSION: u32 = 2;

/// The header of a RouterOS export: `# <date> <time> by RouterOS <version>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportHeader {
    /// The version as printed (`7.15.3`, `6.49.7`).
    pub version: String,
    /// Major version (6, 7).
    pub major: u32,
}

/// Why a text is not a RouterOS export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAnExport {
    #[error("the input is empty")]
    Empty,
    #[error("the input is binary (byte {offset} is {byte:#04x}), not a RouterOS export")]
    Binary { offset: usize, byte: u8 },
    #[error("the input is not UTF-8 text (at byte {offset}), not a RouterOS export")]
    NotText { offset: usize },
    #[error(
        "no RouterOS export header (`# <date> <time> by RouterOS <version>`) and no menu path line; first line: {first_line:?}"
    )]
    NoExport { first_line: String },
}

/// Parse the timestamp header line of an export, in any of its real forms.
pub fn parse_header_line(line: &str) -> Option<ExportHeader> {
    let rest = line.trim_end().strip_prefix('#')?.trim_start();
    let mut parts = rest.split_ascii_whitespace();
    let date = parts.next()?;
    let time = parts.next()?;
    if parts.next()? != "by" || parts.next()? != "RouterOS" {
        return None;
    }
    let version = parts.next()?;
    if parts.next().is_some() || !is_export_date(date) || !is_clock_time(time) {
        return None;
    }
    let major = version.split('.').next()?.parse().ok()?;
    if !version
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.')
    {
        return None;
    }
    Some(ExportHeader {
        version: version.to_owned(),
        major,
    })
}

fn all_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_export_date(date: &str) -> bool {
    // mmm/dd/yyyy (v6, v7 < 7.10), yyyy-mm-dd (7.10+), yyyy/mm/dd (seen in 7.14)
    let slash: Vec<&str> = date.split('/').collect();
    if slash.len() == 3 {
        let month_name = slash[0].len() == 3 && slash[0].bytes().all(|b| b.is_ascii_lowercase());
        if month_name && all_digits(slash[1], 2) && all_digits(slash[2], 4) {
            return true;
        }
        return all_digits(slash[0], 4) && all_digits(slash[1], 2) && all_digits(slash[2], 2);
    }
    let dash: Vec<&str> = date.split('-').collect();
    dash.len() == 3 && all_digits(dash[0], 4) && all_digits(dash[1], 2) && all_digits(dash[2], 2)
}

fn is_clock_time(time: &str) -> bool {
    let parts: Vec<&str> = time.split(':').collect();
    parts.len() == 3 && parts.iter().all(|p| all_digits(p, 2))
}

/// The export header found in the leading comment block, if any.
pub fn find_header(text: &str) -> Option<ExportHeader> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .take_while(|l| l.trim_start().starts_with('#') || l.trim().is_empty())
        .find_map(parse_header_line)
}

/// Check that bytes look like a RouterOS export and return them as text.
///
/// An export is UTF-8 (RouterOS escapes other bytes as `\XX`), holds no
/// control characters but tab, CR and LF, and has either the timestamp header
/// or at least one menu-path line (`/interface …`).
pub fn check_export(bytes: &[u8]) -> Result<&str, NotAnExport> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(NotAnExport::Empty);
    }
    if let Some((offset, &byte)) = bytes
        .iter()
        .enumerate()
        .find(|(_, b)| b.is_ascii_control() && !matches!(b, b'\t' | b'\r' | b'\n'))
    {
        return Err(NotAnExport::Binary { offset, byte });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| NotAnExport::NotText {
        offset: e.valid_up_to(),
    })?;
    let has_menu_line = text.lines().any(|l| l.starts_with('/'));
    if find_header(text).is_none() && !has_menu_line {
        let first_line: String = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .chars()
            .take(80)
            .collect();
        return Err(NotAnExport::NoExport { first_line });
    }
    Ok(text)
}

/// Whether a (joined, trimmed) comment line is machine-generated runtime noise.
pub fn is_volatile_comment(line: &str) -> bool {
    let Some(body) = line.trim_start().strip_prefix('#') else {
        return false;
    };
    let lower = body.trim().to_ascii_lowercase();
    if lower.starts_with("software id")
        || lower.starts_with("model =")
        || lower.starts_with("serial number")
    {
        return false;
    }
    lower.ends_with("not ready")
        || lower.contains("inactive time")
        || (lower.contains("received packet") && lower.contains("bad format"))
        || lower.starts_with("poe-out status")
        || lower.starts_with("poe out status")
        || lower.contains("poe-out state")
        || lower.contains("firmware upgraded")
        || lower.contains("please reboot")
        || lower.contains("please restart")
        || lower.starts_with("managed by capsman")
        || lower.starts_with("channel:")
}

/// Normalize an export's text (see the module doc for the rules).
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_leading_comments = true;
    let mut pending_blank = false;
    let mut logical = String::new();

    let emit = |line: &str, out: &mut String, in_leading: &mut bool, blank: &mut bool| {
        let line = line.trim_end();
        if line.is_empty() {
            if !out.is_empty() {
                *blank = true;
            }
            return;
        }
        let is_comment = line.trim_start().starts_with('#');
        if *in_leading {
            if is_comment {
                if parse_header_line(line).is_some() {
                    return;
                }
            } else {
                *in_leading = false;
            }
        }
        if is_comment && is_volatile_comment(line) {
            return;
        }
        if *blank {
            out.push('\n');
            *blank = false;
        }
        out.push_str(line);
        out.push('\n');
    };

    let mut lines = text.split('\n').peekable();
    while let Some(raw) = lines.next() {
        let line = raw.trim_end();
        let piece = if logical.is_empty() {
            line
        } else {
            line.trim_start_matches([' ', '\t'])
        };
        let trailing = piece.bytes().rev().take_while(|&b| b == b'\\').count();
        // A continuation needs a line to continue onto: before a blank line or
        // the end of input the backslash is kept as text (so normalizing twice
        // changes nothing).
        let continues = lines.peek().is_some_and(|next| !next.trim().is_empty());
        if trailing % 2 == 1 && continues {
            logical.push_str(&piece[..piece.len() - 1]);
            continue;
        }
        if logical.is_empty() {
            emit(
                piece,
                &mut out,
                &mut in_leading_comments,
                &mut pending_blank,
            );
        } else {
            logical.push_str(piece);
            let joined = std::mem::take(&mut logical);
            emit(
                &joined,
                &mut out,
                &mut in_leading_comments,
                &mut pending_blank,
            );
        }
    }
    if out.is_empty() {
        out.push('\n');
    }
    out
}

/// SHA-256 of `text`, lowercase hex (64 characters).
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Normalize and hash: what a snapshot is filed under.
pub fn normalized_hash(text: &str) -> (String, String) {
    let normalized = normalize(text);
    let hash = sha256_hex(&normalized);
    (normalized, hash)
}
