//! A generator of realistic RouterOS 6 and 7 exports, deterministic from a seed.
//!
//! The simulated fleet ([`super::sim_fleet`]), the tests and the benchmarks
//! need routers that print what real routers print: the compact export style
//! (a bare menu header line such as `/ip address`, then `add`/`set` lines),
//! wrapped at 79 columns with a trailing `\` and a 4-space indent, quoted
//! values escaped the RouterOS way (`\"`, `\$`, `\r\n` in script sources,
//! `\XX` for bytes outside ASCII), the timestamp header in the version's own
//! format, the `# software id` / `# model` / `# serial number` block, and the
//! volatile comments a live device prints (`# ether5 not ready`, `# inactive
//! time …`, `# Firmware upgraded successfully, please reboot …`).
//!
//! The configuration itself is a pure function of the [`ExportSpec`] (a
//! ChaCha8 stream seeded from `seed`: portable and reproducible, never a
//! thread RNG). Only the header timestamp and the volatile comments depend on
//! the time passed to [`GeneratedExport::render`], and those are exactly what
//! `domain::normalize` drops, so every rendering of one device normalizes to
//! the same hash.
//!
//! Faithfulness notes (from reading real exports):
//! - Headers: `# jun/12/2023 16:40:52 by RouterOS 6.49.7` for v6 and v7 before
//!   7.10, `# 2023-07-08 19:33:27 by RouterOS 7.10.1` from 7.10 on. A CHR prints
//!   `# software id = ` with an empty value and no model or serial lines.
//! - RouterOS never exports `/user` entries (accounts live in the binary
//!   backup only); it exports `/user group`, and secrets live in PPP secrets,
//!   wireless security profiles, WireGuard keys and script sources. Those
//!   values are *sensitive*: v7 prints them only for `export show-sensitive`,
//!   v6 prints them unless asked `export hide-sensitive`.
//! - Wrapping: a break goes at the latest allowed point: after the space
//!   between two properties (the line then ends in ` \` by column 79), right
//!   after a property's `=` (`key=\` by column 78), or, for a quoted value
//!   too long to fit a line of its own, inside the quotes (text to column 78,
//!   then `\`; never inside an escape, never before a space, which the
//!   continuation join would eat). A line's last text ends by column 77.
//!   Multi-line values (script sources) break before every escaped `\n`, so
//!   each source line starts a physical line with `\n`. The test
//!   `wrapping_reproduces_real_exports` re-wraps every entry of the real
//!   compact exports in the shared fixtures and gets their exact lines.
//!
//! The files of this module:
//! - this one: the public API ([`ExportSpec`], [`GeneratedExport`],
//!   [`BulkLines`]) and the assembly of an export (generate, bulk fill,
//!   edits, rendering with the volatile comments);
//! - `plan`: what is decided once per router (addressing, VLANs, ports) and
//!   the bulk entries of the fill;
//! - `menus`: the base configuration, one builder per RouterOS menu;
//! - `entries`: the configuration model (sections, entries, properties) and
//!   the menus' export order;
//! - `models`: the hardware the generator can pretend to be;
//! - `render`: quoting, escaping and the 79-column wrapping;
//! - `helpers`: civil time, hashes and the random names, keys and codes.

mod entries;
mod helpers;
mod menus;
mod models;
mod plan;
mod render;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use entries::{Section, Volatile, entry, section_rank};
use helpers::{MONTHS, civil, code, fnv, hex_upper, identity, mix};
use models::{MODELS, Model};
use plan::Plan;
use render::Logical;

/// How lines end. RouterOS's SSH server prints `\r\n`; files saved on the
/// router (`/export file=…`) end in `\n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineEnding {
    #[default]
    Lf,
    CrLf,
}

impl LineEnding {
    fn as_str(self) -> &'static str {
        match self {
            LineEnding::Lf => "\n",
            LineEnding::CrLf => "\r\n",
        }
    }
}

/// Whether secrets are printed (`export show-sensitive` on v7, plain
/// `export` on v6) or left out (`export` on v7, `export hide-sensitive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensitive {
    Show,
    Hide,
}

/// A RouterOS version as printed in the export header (`7.15.3`, `6.49.7`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterOsVersion {
    text: String,
    major: u32,
    minor: u32,
}

/// A version string that is not `MAJOR.MINOR[.PATCH]` with major 6 or 7.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "RouterOS version {0:?} is not understood: expected MAJOR.MINOR[.PATCH] with major 6 or 7 (e.g. 7.15.3)"
)]
pub struct BadVersion(pub String);

impl RouterOsVersion {
    /// Parse `7.15.3`, `7.10`, `6.49.7`.
    pub fn parse(text: &str) -> Result<Self, BadVersion> {
        let bad = || BadVersion(text.to_owned());
        let mut parts = text.split('.');
        let major: u32 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let minor: u32 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        if let Some(patch) = parts.next() {
            patch.parse::<u32>().map_err(|_| bad())?;
        }
        if parts.next().is_some() || !(6..=7).contains(&major) {
            return Err(bad());
        }
        Ok(RouterOsVersion {
            text: text.to_owned(),
            major,
            minor,
        })
    }

    /// The version as printed.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// 6 or 7.
    pub fn major(&self) -> u32 {
        self.major
    }

    /// From 7.10 on the header date is `yyyy-mm-dd`, before it `mmm/dd/yyyy`.
    fn iso_header(&self) -> bool {
        self.major > 7 || (self.major == 7 && self.minor >= 10)
    }

    /// The new `/interface wifi` package replaced `/interface wireless` on
    /// ax devices from 7.13.
    fn has_wifi_package(&self) -> bool {
        self.major == 7 && self.minor >= 13
    }
}

impl std::fmt::Display for RouterOsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Versions a generated device may run when the caller does not choose.
pub const V7_VERSIONS: &[&str] = &[
    "7.8", "7.9.2", "7.11.2", "7.12.1", "7.14.3", "7.15.3", "7.16.2", "7.18.2",
];
/// RouterOS 6 versions a generated device may run.
pub const V6_VERSIONS: &[&str] = &["6.47.10", "6.48.6", "6.49.7", "6.49.10"];

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSpec {
    /// Everything but the timestamp follows from this seed.
    pub seed: u64,
    /// The RouterOS version the device runs.
    pub version: RouterOsVersion,
    /// Approximate size of the export in bytes (the result is within a few
    /// hundred bytes above it; a tiny target still gets a minimal router).
    pub target_bytes: usize,
    pub line_ending: LineEnding,
    /// Wrap at 79 columns (interactive-style export). Some v7 devices print
    /// unwrapped lines over a non-interactive SSH session.
    pub wrap: bool,
}

impl ExportSpec {
    /// A spec with the defaults: LF endings, wrapped.
    pub fn new(seed: u64, version: RouterOsVersion, target_bytes: usize) -> Self {
        ExportSpec {
            seed,
            version,
            target_bytes,
            line_ending: LineEnding::Lf,
            wrap: true,
        }
    }
}

/// A generated router: its identity block and its configuration. Render it
/// at any time with [`GeneratedExport::render`].
#[derive(Debug, Clone)]
pub struct GeneratedExport {
    seed: u64,
    version: RouterOsVersion,
    model: &'static Model,
    software_id: String,
    serial: String,
    identity: String,
    sections: Vec<Section>,
    line_ending: LineEnding,
    wrap: bool,
    /// The rendering after the header, with secrets shown ([0]) and hidden.
    rendered: [OnceLock<Vec<Piece>>; 2],
}

/// A run of fixed export text, or the place of a volatile comment.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Volatile(Volatile),
}

impl GeneratedExport {
    /// Generate the router described by `spec`.
    pub fn generate(spec: &ExportSpec) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let v6 = spec.version.major() == 6;
        let candidates: Vec<&'static Model> = MODELS.iter().filter(|m| m.v6 || !v6).collect();
        let model = candidates[rng.random_range(0..candidates.len())];
        let software_id = if model.routerboard {
            format!("{}-{}", code(&mut rng, 4), code(&mut rng, 4))
        } else {
            String::new()
        };
        let serial = hex_upper(&mut rng, 12);
        let identity = identity(&mut rng);
        let mut generated = GeneratedExport {
            seed: spec.seed,
            version: spec.version.clone(),
            model,
            software_id,
            serial,
            identity,
            sections: Vec::new(),
            line_ending: spec.line_ending,
            wrap: spec.wrap,
            rendered: [OnceLock::new(), OnceLock::new()],
        };
        let plan = Plan::new(&mut rng, model, &spec.version);
        generated.sections = plan.base_sections(&mut rng, &generated.identity);
        generated.fill_to(&mut rng, &plan, spec.target_bytes);
        // RouterOS prints properties in alphabetical order.
        for section in &mut generated.sections {
            for e in &mut section.entries {
                e.items.sort_by(|a, b| a.key.cmp(&b.key));
            }
        }
        generated
    }

    /// This configuration after an operator's edit number `revision`: one
    /// more address-list entry, deterministic from the seed and `revision`.
    /// Applied in turn (1, 2, …) it grows the list like a NOC blocking hosts.
    pub fn edited(&self, revision: u64) -> GeneratedExport {
        let mut next = self.clone();
        next.rendered = [OnceLock::new(), OnceLock::new()];
        let h = mix(self.seed ^ mix(revision ^ 0xED17));
        let e = entry("add")
            .p("address", format!("203.0.113.{}", 1 + h % 254))
            .q("comment", format!("blocked by NOC, change {revision}"))
            .p("list", "blocklist");
        let path = "ip firewall address-list";
        match next.sections.iter_mut().find(|s| s.path == path) {
            Some(section) => section.entries.push(e),
            None => {
                let rank = section_rank(path);
                let pos = next
                    .sections
                    .iter()
                    .position(|s| section_rank(s.path) > rank)
                    .unwrap_or(next.sections.len());
                next.sections.insert(
                    pos,
                    Section {
                        path,
                        entries: vec![e],
                    },
                );
            }
        }
        next
    }

    /// The RouterOS version in the header.
    pub fn version(&self) -> &RouterOsVersion {
        &self.version
    }

    /// The device's model as printed in `# model =` (`CHR` prints none).
    pub fn model(&self) -> &str {
        self.model.name
    }

    /// The `/system identity` name.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The export as the device prints it at `at_millis` (milliseconds since
    /// the Unix epoch): the header carries that time, and the volatile
    /// comments are those of that moment.
    pub fn render(&self, at_millis: u64, sensitive: Sensitive) -> String {
        let mut out = String::with_capacity(self.body_len_hint());
        self.render_into(&mut out, at_millis, sensitive);
        out
    }

    /// The header line alone (`# jun/12/2023 16:40:52 by RouterOS 6.49.7`).
    pub fn header_line(&self, at_millis: u64) -> String {
        let (y, mo, d, h, mi, s) = civil(at_millis);
        if self.version.iso_header() {
            format!(
                "# {y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} by RouterOS {}",
                self.version
            )
        } else {
            let month = MONTHS[(mo - 1) as usize];
            format!(
                "# {month}/{d:02}/{y:04} {h:02}:{mi:02}:{s:02} by RouterOS {}",
                self.version
            )
        }
    }

    fn body_len_hint(&self) -> usize {
        self.sections
            .iter()
            .map(|s| s.entries.len() * 90 + 20)
            .sum::<usize>()
            + 256
    }

    fn render_into(&self, out: &mut String, at_millis: u64, sensitive: Sensitive) {
        let nl = self.line_ending.as_str();
        out.push_str(&self.header_line(at_millis));
        out.push_str(nl);
        let slot = match sensitive {
            Sensitive::Show => &self.rendered[0],
            Sensitive::Hide => &self.rendered[1],
        };
        // Everything but the header and the volatile comments is the same
        // at every rendering: built once, then copied.
        for piece in slot.get_or_init(|| self.pieces(sensitive)) {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Volatile(v) => {
                    if let Some(comment) = self.volatile_comment(v, at_millis) {
                        out.push_str(&comment);
                        out.push_str(nl);
                    }
                }
            }
        }
    }

    /// The export after its header line, as text runs between the places
    /// where a volatile comment may appear.
    fn pieces(&self, sensitive: Sensitive) -> Vec<Piece> {
        let nl = self.line_ending.as_str();
        let mut pieces = Vec::new();
        let mut out = String::new();
        out.push_str("# software id = ");
        out.push_str(&self.software_id);
        out.push_str(nl);
        if self.model.routerboard {
            out.push('#');
            out.push_str(nl);
            out.push_str("# model = ");
            out.push_str(self.model.name);
            out.push_str(nl);
            out.push_str("# serial number = ");
            out.push_str(&self.serial);
            out.push_str(nl);
        }
        let mut line = Logical::default();
        for section in &self.sections {
            out.push('/');
            out.push_str(section.path);
            out.push_str(nl);
            for e in &section.entries {
                if let Some(v) = &e.volatile {
                    pieces.push(Piece::Text(std::mem::take(&mut out)));
                    pieces.push(Piece::Volatile(v.clone()));
                }
                line.clear();
                line.build(e, sensitive);
                line.emit(&mut out, self.wrap, nl);
            }
        }
        pieces.push(Piece::Text(out));
        pieces
    }

    /// The size of a rendering, without caching it (the configuration may
    /// still change while it is being generated).
    fn rendered_len(&self) -> usize {
        let header = self.header_line(0).len() + self.line_ending.as_str().len();
        header
            + self
                .pieces(Sensitive::Show)
                .iter()
                .map(|p| match p {
                    Piece::Text(t) => t.len(),
                    Piece::Volatile(_) => 0,
                })
                .sum::<usize>()
    }

    /// Whether and how a volatile comment shows at `at_millis`. Link state
    /// flaps per minute, the firmware notice per hour: deterministic from the
    /// seed and the time, so two renderings usually differ in them.
    fn volatile_comment(&self, v: &Volatile, at_millis: u64) -> Option<String> {
        let minute = at_millis / 60_000;
        match v {
            Volatile::NotReady(port) => {
                let h = mix(self.seed ^ mix(minute) ^ fnv(port.as_bytes()));
                h.is_multiple_of(3).then(|| format!("# {port} not ready"))
            }
            Volatile::InactiveTime => {
                let h = mix(self.seed ^ mix(at_millis / 1000));
                let secs = h % 7200;
                let text = if secs >= 3600 {
                    format!("{}h{}m{}s", secs / 3600, secs / 60 % 60, secs % 60)
                } else if secs >= 60 {
                    format!("{}m{}s", secs / 60, secs % 60)
                } else {
                    format!("{secs}s")
                };
                h.is_multiple_of(2)
                    .then(|| format!("# inactive time {text}"))
            }
            Volatile::FirmwareUpgraded => {
                let h = mix(self.seed ^ mix(minute / 60) ^ 0xf1f1);
                h.is_multiple_of(2).then(|| {
                    "# Firmware upgraded successfully, please reboot for changes to take effect!"
                        .to_owned()
                })
            }
        }
    }

    /// Append bulk entries (address lists, leases, static DNS, firewall
    /// rules, scripts) until the rendering reaches `target` bytes.
    fn fill_to(&mut self, rng: &mut ChaCha8Rng, plan: &Plan, target: usize) {
        // Sized as a wrapped LF rendering, whatever this device prints, so
        // the configuration depends on the seed, version and target only.
        let (wrap, ending) = (self.wrap, self.line_ending);
        self.wrap = true;
        self.line_ending = LineEnding::Lf;
        let nl = "\n";
        let mut size = self.rendered_len();
        let mut line = Logical::default();
        let mut scratch = String::new();
        let mut counter = 0u32;
        while size < target {
            counter += 1;
            let roll = rng.random_range(0..100u32);
            let (path, e) = match roll {
                0..=39 => ("ip firewall address-list", plan.address_list_entry(rng)),
                40..=59 => ("ip dhcp-server lease", plan.lease_entry(rng, counter)),
                60..=74 => ("ip dns static", plan.dns_static_entry(rng, counter)),
                75..=94 => ("ip firewall filter", plan.filter_entry(rng)),
                _ => ("system script", plan.script_entry(rng, counter)),
            };
            line.clear();
            line.build(&e, Sensitive::Show);
            scratch.clear();
            line.emit(&mut scratch, self.wrap, nl);
            size += scratch.len();
            match self.sections.iter_mut().find(|s| s.path == path) {
                Some(section) => {
                    // Firewall filter rules go before the final drop rules, so
                    // the generated rule set still reads like a policy.
                    if path == "ip firewall filter" {
                        let at = section.entries.len().saturating_sub(2);
                        section.entries.insert(at, e);
                    } else {
                        section.entries.push(e);
                    }
                }
                None => {
                    size += path.len() + 1 + nl.len();
                    let at = section_rank(path);
                    let pos = self
                        .sections
                        .iter()
                        .position(|s| section_rank(s.path) > at)
                        .unwrap_or(self.sections.len());
                    self.sections.insert(
                        pos,
                        Section {
                            path,
                            entries: vec![e],
                        },
                    );
                }
            }
        }
        self.wrap = wrap;
        self.line_ending = ending;
    }
}

/// Bulk lines for a stream of any length: `/ip firewall address-list`
/// entries, deterministic from the seed. Used by the fleet's oversized-output
/// fault, which streams far more than anyone should hold in memory.
#[derive(Debug)]
pub struct BulkLines {
    rng: ChaCha8Rng,
    nl: &'static str,
}

impl BulkLines {
    pub fn new(seed: u64, line_ending: LineEnding) -> Self {
        BulkLines {
            rng: ChaCha8Rng::seed_from_u64(mix(seed ^ 0xB01C)),
            nl: line_ending.as_str(),
        }
    }

    /// The menu header the lines belong under.
    pub fn header(&self) -> String {
        format!("/ip firewall address-list{}", self.nl)
    }

    /// Append lines to `out` until it holds at least `bytes` more bytes.
    pub fn fill(&mut self, out: &mut String, bytes: usize) {
        let goal = out.len() + bytes;
        while out.len() < goal {
            let a = self.rng.random::<u32>();
            out.push_str(&format!(
                "add address={}.{}.{}.{} list=blocklist{}",
                11 + (a >> 24) % 200,
                (a >> 16) & 0xff,
                (a >> 8) & 0xff,
                1 + (a & 0xff) % 254,
                self.nl
            ));
        }
    }
}
