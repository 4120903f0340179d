//! Printing an entry as RouterOS prints it: quoting, escaping, and the
//! wrapping of a long logical line into 79-column physical lines.
//!
//! An entry is first laid out as one logical line with, for every byte,
//! whether and how a break may go before it (`Brk`); `Logical::emit` then
//! picks the breaks. Keeping the two apart lets the tests re-wrap entries
//! of real exports and compare them line by line.

use super::Sensitive;
use super::entries::{Entry, Value};

/// Longest physical line, including a trailing continuation backslash.
pub(super) const WIDTH: usize = 79;
/// Last column a property (or a line's last text) may end in: RouterOS
/// leaves room for the space and the backslash after it, so `key=\` breaks
/// end by column 78, `value \` breaks by 79, and an unbroken line by 77.
/// Inside a long quoted value the text runs to column 78, then `\`.
pub(super) const TOKEN_END: usize = 77;
/// Indentation of a continuation line.
const INDENT: &str = "    ";

/// Where a logical line may be broken (before the byte at that index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Brk {
    No,
    /// After the space between two properties.
    Item,
    /// Right after a property's `=`.
    Eq,
    /// Inside a quoted value too long for a line of its own.
    Inside,
    /// Before an escaped `\n` (a new line of a multi-line value).
    Forced,
    /// Anywhere, only if nothing better fits.
    Fallback,
}

/// One entry as a single logical line plus where it may be broken.
#[derive(Debug, Default)]
pub(super) struct Logical {
    pub(super) text: String,
    /// `brk[i]`: whether a break may go before byte `i`.
    brk: Vec<Brk>,
}

impl Logical {
    pub(super) fn clear(&mut self) {
        self.text.clear();
        self.brk.clear();
    }

    pub(super) fn push(&mut self, s: &str, before: Brk, inside: Brk) {
        for (i, b) in s.bytes().enumerate() {
            self.brk.push(if i == 0 { before } else { inside });
            self.text.push(b as char);
        }
    }

    pub(super) fn build(&mut self, e: &Entry, sensitive: Sensitive) {
        self.push(&e.command, Brk::No, Brk::No);
        for item in &e.items {
            if item.sensitive && sensitive == Sensitive::Hide {
                continue;
            }
            self.push_key(&item.key);
            match &item.value {
                Value::Auto(v) if !needs_quotes(v) => {
                    self.push(v, Brk::Eq, Brk::Fallback);
                }
                Value::Auto(v) | Value::Quoted(v) => {
                    let escaped: Vec<String> = v.bytes().map(escape_byte).collect();
                    self.push_quoted(&escaped);
                }
            }
        }
        self.finish();
    }

    pub(super) fn push_key(&mut self, key: &str) {
        self.push(" ", Brk::No, Brk::No);
        self.push(key, Brk::Item, Brk::Fallback);
        self.push("=", Brk::Fallback, Brk::No);
    }

    /// The position after the last byte (never a break).
    pub(super) fn finish(&mut self) {
        self.brk.push(Brk::No);
    }

    /// A quoted value from its escape units (`a`, `\"`, `\r`, `\C3`).
    pub(super) fn push_quoted(&mut self, escaped: &[String]) {
        let len: usize = escaped.iter().map(String::len).sum::<usize>() + 2;
        // Split inside only when the value cannot fit a line of its own.
        let long = len > TOKEN_END - INDENT.len();
        self.push("\"", Brk::Eq, Brk::No);
        for esc in escaped {
            let starts_blank = esc.starts_with(' ') || esc.starts_with('\t');
            let before = if esc == "\\n" {
                // Each line of a multi-line value starts a physical line.
                Brk::Forced
            } else if !long || starts_blank {
                Brk::No
            } else {
                Brk::Inside
            };
            self.push(esc, before, Brk::No);
        }
        self.push("\"", if long { Brk::Inside } else { Brk::No }, Brk::No);
    }

    /// Write the physical lines of this entry to `out`.
    pub(super) fn emit(&self, out: &mut String, wrap: bool, nl: &str) {
        let text = self.text.as_str();
        if !wrap {
            out.push_str(text);
            out.push_str(nl);
            return;
        }
        let mut start = 0;
        let mut first = true;
        loop {
            let indent = if first { 0 } else { INDENT.len() };
            // Longest content before the break, by kind (see `TOKEN_END`).
            let fits = |q: usize, kind: Brk| {
                let len = indent + q - start;
                match kind {
                    Brk::Item | Brk::Inside | Brk::Forced | Brk::Fallback => len < WIDTH,
                    Brk::Eq => len <= TOKEN_END,
                    Brk::No => false,
                }
            };
            let window_end = (start + WIDTH - 1 - indent).min(text.len());
            let candidates = start + 1..=window_end;
            let forced = candidates
                .clone()
                .find(|&q| self.brk[q] == Brk::Forced && fits(q, Brk::Forced));
            let cut = match forced {
                Some(q) => q,
                None if indent + text.len() - start <= TOKEN_END => {
                    if !first {
                        out.push_str(INDENT);
                    }
                    out.push_str(&text[start..]);
                    out.push_str(nl);
                    return;
                }
                None => {
                    let best = candidates.clone().rev().find(|&q| {
                        matches!(self.brk[q], Brk::Item | Brk::Eq | Brk::Inside)
                            && fits(q, self.brk[q])
                    });
                    let fallback = || {
                        candidates
                            .clone()
                            .rev()
                            .find(|&q| self.brk[q] == Brk::Fallback)
                    };
                    best.or_else(fallback).unwrap_or(window_end)
                }
            };
            if !first {
                out.push_str(INDENT);
            }
            out.push_str(&text[start..cut]);
            out.push('\\');
            out.push_str(nl);
            start = cut;
            first = false;
        }
    }
}

/// Whether a bare value must be quoted to read back as the same value.
pub(super) fn needs_quotes(v: &str) -> bool {
    v.is_empty()
        || v.bytes().any(|b| {
            !(b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'.' | b'-'
                        | b'_'
                        | b':'
                        | b'/'
                        | b','
                        | b'+'
                        | b'*'
                        | b'@'
                        | b'!'
                        | b'%'
                        | b'='
                ))
        })
}

/// One byte of a quoted value, escaped as RouterOS escapes it.
pub(super) fn escape_byte(b: u8) -> String {
    match b {
        b'"' => "\\\"".to_owned(),
        b'\\' => "\\\\".to_owned(),
        b'$' => "\\$".to_owned(),
        b'?' => "\\?".to_owned(),
        b'\n' => "\\n".to_owned(),
        b'\r' => "\\r".to_owned(),
        b'\t' => "\\t".to_owned(),
        0x20..=0x7e => (b as char).to_string(),
        _ => format!("\\{b:02X}"),
    }
}
