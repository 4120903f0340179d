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

use std::sync::OnceLock;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Longest physical line, including a trailing continuation backslash.
const WIDTH: usize = 79;
/// Last column a property (or a line's last text) may end in: RouterOS
/// leaves room for the space and the backslash after it, so `key=\` breaks
/// end by column 78, `value \` breaks by 79, and an unbroken line by 77.
/// Inside a long quoted value the text runs to column 78, then `\`.
const TOKEN_END: usize = 77;
/// Indentation of a continuation line.
const INDENT: &str = "    ";

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

// === the configuration model ===

/// A property value as RouterOS prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    /// Printed bare unless it needs quotes (space, special characters, empty).
    Auto(String),
    /// Always quoted (`policy="local,telnet,…"`).
    Quoted(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    key: String,
    value: Value,
    sensitive: bool,
}

/// A volatile comment printed before an entry depending on the time.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Volatile {
    /// `# <port> not ready`: the port's link is down at that moment.
    NotReady(String),
    /// `# inactive time <duration>` before a WireGuard peer.
    InactiveTime,
    /// The firmware notice under `/system routerboard settings`.
    FirmwareUpgraded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// `add`, `set`, `set [ find default-name=ether1 ]`, `set 0`.
    command: String,
    items: Vec<Item>,
    volatile: Option<Volatile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    path: &'static str,
    entries: Vec<Entry>,
}

fn entry(command: &str) -> Entry {
    Entry {
        command: command.to_owned(),
        items: Vec::new(),
        volatile: None,
    }
}

impl Entry {
    fn p(mut self, key: &str, value: impl Into<String>) -> Self {
        self.items.push(Item {
            key: key.to_owned(),
            value: Value::Auto(value.into()),
            sensitive: false,
        });
        self
    }

    fn q(mut self, key: &str, value: impl Into<String>) -> Self {
        self.items.push(Item {
            key: key.to_owned(),
            value: Value::Quoted(value.into()),
            sensitive: false,
        });
        self
    }

    /// A secret: printed only when sensitive values are shown.
    fn secret(mut self, key: &str, value: impl Into<String>) -> Self {
        self.items.push(Item {
            key: key.to_owned(),
            value: Value::Auto(value.into()),
            sensitive: true,
        });
        self
    }

    fn secret_quoted(mut self, key: &str, value: impl Into<String>) -> Self {
        self.items.push(Item {
            key: key.to_owned(),
            value: Value::Quoted(value.into()),
            sensitive: true,
        });
        self
    }

    fn volatile(mut self, v: Volatile) -> Self {
        self.volatile = Some(v);
        self
    }
}

/// Hardware the generator can pretend to be.
#[derive(Debug)]
struct Model {
    name: &'static str,
    ethernet: &'static [&'static str],
    radio: Radio,
    routerboard: bool,
    v6: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Radio {
    None,
    /// Legacy `/interface wireless` radios (`wlan1`, …).
    Wireless(u8),
    /// 802.11ax radios: `/interface wifi` from 7.13, `wifiwave2` names.
    Wifi(u8),
}

const ETH5: &[&str] = &["ether1", "ether2", "ether3", "ether4", "ether5"];
const ETH5_SFP: &[&str] = &["ether1", "ether2", "ether3", "ether4", "ether5", "sfp1"];
const RB5009: &[&str] = &[
    "ether1",
    "ether2",
    "ether3",
    "ether4",
    "ether5",
    "ether6",
    "ether7",
    "ether8",
    "sfp-sfpplus1",
];
const RB4011: &[&str] = &[
    "ether1",
    "ether2",
    "ether3",
    "ether4",
    "ether5",
    "ether6",
    "ether7",
    "ether8",
    "ether9",
    "ether10",
    "sfp-sfpplus1",
];
const CCR2004: &[&str] = &[
    "ether1",
    "ether2",
    "ether3",
    "ether4",
    "ether5",
    "ether6",
    "ether7",
    "ether8",
    "ether9",
    "ether10",
    "ether11",
    "ether12",
    "ether13",
    "ether14",
    "ether15",
    "ether16",
    "sfp-sfpplus1",
    "sfp-sfpplus2",
];
const CHR: &[&str] = &["ether1", "ether2", "ether3"];

const MODELS: &[Model] = &[
    Model {
        name: "RB5009UG+S+",
        ethernet: RB5009,
        radio: Radio::None,
        routerboard: true,
        v6: false,
    },
    Model {
        name: "C52iG-5HaxD2HaxD",
        ethernet: ETH5,
        radio: Radio::Wifi(2),
        routerboard: true,
        v6: false,
    },
    Model {
        name: "CCR2004-16G-2S+",
        ethernet: CCR2004,
        radio: Radio::None,
        routerboard: true,
        v6: false,
    },
    Model {
        name: "RB4011iGS+",
        ethernet: RB4011,
        radio: Radio::None,
        routerboard: true,
        v6: true,
    },
    Model {
        name: "RBD52G-5HacD2HnD",
        ethernet: ETH5,
        radio: Radio::Wireless(2),
        routerboard: true,
        v6: true,
    },
    Model {
        name: "951Ui-2HnD",
        ethernet: ETH5,
        radio: Radio::Wireless(1),
        routerboard: true,
        v6: true,
    },
    Model {
        name: "RB760iGS",
        ethernet: ETH5_SFP,
        radio: Radio::None,
        routerboard: true,
        v6: true,
    },
    Model {
        name: "CHR",
        ethernet: CHR,
        radio: Radio::None,
        routerboard: false,
        v6: true,
    },
];

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

/// Export order of the menus this generator writes (RouterOS prints menus in
/// a fixed order, not alphabetically).
const SECTION_ORDER: &[&str] = &[
    "interface bridge",
    "interface ethernet",
    "interface wireguard",
    "interface vlan",
    "interface list",
    "interface wifi security",
    "interface wifi",
    "interface wireless security-profiles",
    "interface wireless",
    "ip pool",
    "ip dhcp-server",
    "ppp profile",
    "snmp community",
    "system logging action",
    "user group",
    "interface bridge port",
    "ip firewall connection tracking",
    "ip neighbor discovery-settings",
    "interface bridge vlan",
    "interface list member",
    "interface wireguard peers",
    "ip address",
    "ip dhcp-client",
    "ip dhcp-server lease",
    "ip dhcp-server network",
    "ip dns",
    "ip dns static",
    "ip firewall address-list",
    "ip firewall filter",
    "ip firewall nat",
    "ip route",
    "ip service",
    "ip ssh",
    "ppp secret",
    "snmp",
    "system clock",
    "system identity",
    "system logging",
    "system note",
    "system ntp client",
    "system ntp client servers",
    "system routerboard settings",
    "system scheduler",
    "system script",
    "tool mac-server",
    "tool mac-server mac-winbox",
];

fn section_rank(path: &str) -> usize {
    SECTION_ORDER
        .iter()
        .position(|p| *p == path)
        .unwrap_or(SECTION_ORDER.len())
}

/// Addressing and naming decided once per router, shared by the base
/// configuration and the bulk fill.
#[derive(Debug)]
struct Plan {
    v7: bool,
    version: RouterOsVersion,
    model: &'static Model,
    /// Second octet of the router's private ranges (10.X.0.0/16).
    site: u8,
    wan_port: &'static str,
    lan_ports: Vec<&'static str>,
    /// (name, vlan id, third octet)
    vlans: Vec<(&'static str, u16, u8)>,
    wan_static: Option<(u8, u8)>,
    admin_mac: String,
}

const VLAN_NAMES: &[&str] = &["mgmt", "staff", "guest", "iot", "voip", "cctv", "servers"];

impl Plan {
    fn new(rng: &mut ChaCha8Rng, model: &'static Model, version: &RouterOsVersion) -> Self {
        let v7 = version.major() == 7;
        let site = rng.random_range(1..=250u8);
        let wan_port = model.ethernet[0];
        let lan_ports: Vec<&'static str> = model.ethernet[1..].to_vec();
        let mut vlans = Vec::new();
        if v7 || rng.random_bool(0.3) {
            let n = rng.random_range(2..=VLAN_NAMES.len());
            for (i, name) in VLAN_NAMES.iter().take(n).enumerate() {
                let id = 10 * (i as u16 + 1) + rng.random_range(0..5u16);
                vlans.push((*name, id, (i as u8 + 1) * 10));
            }
        }
        let wan_static = rng
            .random_bool(0.5)
            .then(|| (rng.random_range(0..2u8), rng.random_range(2..250u8)));
        let admin_mac = mac(rng);
        Plan {
            v7,
            version: version.clone(),
            model,
            site,
            wan_port,
            lan_ports,
            vlans,
            wan_static,
            admin_mac,
        }
    }

    fn lan_net(&self) -> String {
        format!("10.{}.1", self.site)
    }

    fn wifi_radios(&self) -> Vec<String> {
        match self.model.radio {
            Radio::None => Vec::new(),
            Radio::Wireless(n) => (1..=n).map(|i| format!("wlan{i}")).collect(),
            Radio::Wifi(n) => (1..=n).map(|i| format!("wifi{i}")).collect(),
        }
    }

    fn base_sections(&self, rng: &mut ChaCha8Rng, identity: &str) -> Vec<Section> {
        let mut s: Vec<Section> = Vec::new();
        let mut add = |path: &'static str, entries: Vec<Entry>| {
            if !entries.is_empty() {
                s.push(Section { path, entries });
            }
        };
        let lan = self.lan_net();
        let radios = self.wifi_radios();

        // /interface bridge
        let mut bridge = entry("add")
            .p("admin-mac", &self.admin_mac)
            .p("auto-mac", "no")
            .p("comment", "defconf")
            .p("name", "bridge");
        if !self.vlans.is_empty() && self.v7 {
            bridge = bridge.p("vlan-filtering", "yes");
        }
        add("interface bridge", vec![bridge]);

        // /interface ethernet: speed settings and link-state notes
        let mut eth = Vec::new();
        for (i, port) in self.model.ethernet.iter().enumerate() {
            let mut e = entry(&format!("set [ find default-name={port} ]"));
            if port.starts_with("sfp") {
                e = e
                    .p("advertise", "1000M-full,10000M-full")
                    .p("speed", "1Gbps");
            } else if i == 0 {
                e = e.q("comment", "WAN uplink");
            } else if rng.random_bool(0.3) {
                e = e.p(
                    "advertise",
                    "10M-half,10M-full,100M-half,100M-full,1000M-half,1000M-full",
                );
            } else {
                continue;
            }
            if i + 1 == self.model.ethernet.len() || rng.random_bool(0.3) {
                e = e.volatile(Volatile::NotReady((*port).to_owned()));
            }
            eth.push(e);
        }
        add("interface ethernet", eth);

        // /interface wireguard (v7)
        let wg = self.v7 && rng.random_bool(0.6);
        if wg {
            add(
                "interface wireguard",
                vec![
                    entry("add")
                        .p("listen-port", "13231")
                        .p("mtu", "1420")
                        .p("name", "wg-mgmt")
                        .secret("private-key", b64key(rng)),
                ],
            );
        }

        // /interface vlan
        add(
            "interface vlan",
            self.vlans
                .iter()
                .map(|(name, id, _)| {
                    entry("add")
                        .p("interface", "bridge")
                        .p("name", format!("vlan-{name}"))
                        .p("vlan-id", id.to_string())
                })
                .collect(),
        );

        add(
            "interface list",
            vec![
                entry("add").p("comment", "defconf").p("name", "WAN"),
                entry("add").p("comment", "defconf").p("name", "LAN"),
                entry("add").p("name", "MGMT"),
            ],
        );

        // wireless security with secrets
        let psk = password(rng, 14);
        let guest_psk = password(rng, 10);
        match self.model.radio {
            Radio::Wifi(_) if self.version.has_wifi_package() => {
                add(
                    "interface wifi security",
                    vec![
                        entry("add")
                            .p("authentication-types", "wpa2-psk,wpa3-psk")
                            .p("name", "sec-main")
                            .secret("passphrase", &psk),
                        entry("add")
                            .p("authentication-types", "wpa2-psk")
                            .p("name", "sec-guest")
                            .secret("passphrase", &guest_psk),
                    ],
                );
                let ssid = ssid(rng);
                add(
                    "interface wifi",
                    radios
                        .iter()
                        .enumerate()
                        .map(|(i, r)| {
                            entry(&format!("set [ find default-name={r} ]"))
                                .p("channel.band", if i == 0 { "5ghz-ax" } else { "2ghz-ax" })
                                .p("channel.skip-dfs-channels", "10min-cac")
                                .p("configuration.country", "Netherlands")
                                .p("configuration.mode", "ap")
                                .q("configuration.ssid", &ssid)
                                .p("disabled", "no")
                                .p("security", "sec-main")
                        })
                        .collect(),
                );
            }
            Radio::Wireless(_) | Radio::Wifi(_) => {
                let mut profiles = vec![
                    entry("set [ find default=yes ]")
                        .p("authentication-types", "wpa-psk,wpa2-psk")
                        .p("eap-methods", "")
                        .p("mode", "dynamic-keys")
                        .p("supplicant-identity", "MikroTik")
                        .secret("wpa-pre-shared-key", &psk)
                        .secret("wpa2-pre-shared-key", &psk),
                ];
                profiles.push(
                    entry("add")
                        .p("authentication-types", "wpa2-psk")
                        .p("mode", "dynamic-keys")
                        .p("name", "guest")
                        .p("supplicant-identity", "MikroTik")
                        .secret("wpa2-pre-shared-key", &guest_psk),
                );
                add("interface wireless security-profiles", profiles);
                let ssid = ssid(rng);
                add(
                    "interface wireless",
                    radios
                        .iter()
                        .enumerate()
                        .map(|(i, r)| {
                            entry(&format!("set [ find default-name={r} ]"))
                                .p("band", if i == 0 { "2ghz-b/g/n" } else { "5ghz-a/n/ac" })
                                .p("country", "netherlands")
                                .p("disabled", "no")
                                .p("distance", "indoors")
                                .p("frequency", "auto")
                                .p("installation", "indoor")
                                .p("mode", "ap-bridge")
                                .q("ssid", &ssid)
                                .p("wireless-protocol", "802.11")
                        })
                        .collect(),
                );
            }
            Radio::None => {
                add(
                    "interface wireless security-profiles",
                    vec![entry("set [ find default=yes ]").p("supplicant-identity", "MikroTik")],
                );
            }
        }

        // pools and DHCP servers
        let mut pools = vec![
            entry("add")
                .p("name", "default-dhcp")
                .p("ranges", format!("{lan}.10-{lan}.254")),
        ];
        let mut servers = vec![
            entry("add")
                .p("address-pool", "default-dhcp")
                .p("interface", "bridge")
                .p("lease-time", "1h")
                .p("name", "defconf"),
        ];
        for (name, _, octet) in &self.vlans {
            let net = format!("10.{}.{}", self.site, octet);
            pools.push(
                entry("add")
                    .p("name", format!("pool-{name}"))
                    .p("ranges", format!("{net}.100-{net}.199")),
            );
            servers.push(
                entry("add")
                    .p("address-pool", format!("pool-{name}"))
                    .p("interface", format!("vlan-{name}"))
                    .p("name", format!("dhcp-{name}")),
            );
        }
        if !self.v7 {
            for s in &mut servers {
                *s = s.clone().p("disabled", "no");
            }
        }
        add("ip pool", pools);
        add("ip dhcp-server", servers);

        add(
            "ppp profile",
            vec![
                entry("add")
                    .p("local-address", format!("10.{}.250.1", self.site))
                    .p("name", "vpn")
                    .p("remote-address", "vpn-pool")
                    .p("use-encryption", "yes"),
            ],
        );
        add(
            "snmp community",
            vec![
                entry("set [ find default=yes ]")
                    .p("addresses", format!("10.{}.10.0/24", self.site))
                    .p("name", format!("mon{}", code(rng, 6).to_lowercase())),
            ],
        );
        add(
            "system logging action",
            vec![
                entry("set 3")
                    .p("remote", format!("10.{}.10.5", self.site))
                    .p("src-address", format!("{lan}.1")),
            ],
        );
        add(
            "user group",
            vec![
                entry("add").p("name", "backup").q(
                    "policy",
                    "ssh,read,sensitive,!local,!telnet,!ftp,!reboot,!write,!policy,!test,!winbox,!password,!web,!sniff,!api,!romon,!rest-api",
                ),
                entry("set full").q(
                    "policy",
                    "local,telnet,ssh,ftp,reboot,read,write,policy,test,winbox,password,web,sniff,sensitive,api,romon,rest-api",
                ),
            ],
        );

        // bridge ports, VLAN table, lists
        let mut ports: Vec<Entry> = self
            .lan_ports
            .iter()
            .map(|p| {
                entry("add")
                    .p("bridge", "bridge")
                    .p("comment", "defconf")
                    .p("interface", *p)
            })
            .collect();
        for r in &radios {
            ports.push(
                entry("add")
                    .p("bridge", "bridge")
                    .p("comment", "defconf")
                    .p("interface", r),
            );
        }
        add("interface bridge port", ports);
        add(
            "ip firewall connection tracking",
            vec![entry("set").p("udp-timeout", "10s")],
        );
        add(
            "ip neighbor discovery-settings",
            vec![entry("set").p("discover-interface-list", "LAN")],
        );
        if self.v7 && !self.vlans.is_empty() {
            let trunk = self.lan_ports.last().copied().unwrap_or("ether2");
            add(
                "interface bridge vlan",
                self.vlans
                    .iter()
                    .map(|(_, id, _)| {
                        entry("add")
                            .p("bridge", "bridge")
                            .p("tagged", format!("bridge,{trunk}"))
                            .p("vlan-ids", id.to_string())
                    })
                    .collect(),
            );
        }
        let mut members = vec![
            entry("add")
                .p("comment", "defconf")
                .p("interface", "bridge")
                .p("list", "LAN"),
            entry("add")
                .p("comment", "defconf")
                .p("interface", self.wan_port)
                .p("list", "WAN"),
        ];
        for (name, _, _) in &self.vlans {
            members.push(
                entry("add")
                    .p("interface", format!("vlan-{name}"))
                    .p("list", if *name == "mgmt" { "MGMT" } else { "LAN" }),
            );
        }
        add("interface list member", members);
        if wg {
            let peers = rng.random_range(1..=4);
            add(
                "interface wireguard peers",
                (0..peers)
                    .map(|i| {
                        entry("add")
                            .p(
                                "allowed-address",
                                format!("10.{}.249.{}/32", self.site, i + 2),
                            )
                            .q("comment", format!("admin laptop {}", i + 1))
                            .p("interface", "wg-mgmt")
                            .p("public-key", b64key(rng))
                            .secret("preshared-key", b64key(rng))
                            .volatile(Volatile::InactiveTime)
                    })
                    .collect(),
            );
        }

        // addresses
        let mut addrs = vec![
            entry("add")
                .p("address", format!("{lan}.1/24"))
                .p("comment", "defconf")
                .p("interface", "bridge")
                .p("network", format!("{lan}.0")),
        ];
        for (name, _, octet) in &self.vlans {
            addrs.push(
                entry("add")
                    .p("address", format!("10.{}.{}.1/24", self.site, octet))
                    .p("interface", format!("vlan-{name}"))
                    .p("network", format!("10.{}.{}.0", self.site, octet)),
            );
        }
        if let Some((net, host)) = self.wan_static {
            let base = if net == 0 { "198.51.100" } else { "203.0.113" };
            addrs.push(
                entry("add")
                    .p("address", format!("{base}.{host}/24"))
                    .p("interface", self.wan_port)
                    .p("network", format!("{base}.0")),
            );
        }
        add("ip address", addrs);
        if self.wan_static.is_none() {
            add(
                "ip dhcp-client",
                vec![
                    entry("add")
                        .p("comment", "defconf")
                        .p("interface", self.wan_port),
                ],
            );
        }
        let mut nets = vec![
            entry("add")
                .p("address", format!("{lan}.0/24"))
                .p("comment", "defconf")
                .p("dns-server", format!("{lan}.1"))
                .p("gateway", format!("{lan}.1")),
        ];
        for (_, _, octet) in &self.vlans {
            let net = format!("10.{}.{}", self.site, octet);
            nets.push(
                entry("add")
                    .p("address", format!("{net}.0/24"))
                    .p("dns-server", format!("{net}.1"))
                    .p("gateway", format!("{net}.1")),
            );
        }
        add("ip dhcp-server network", nets);
        add(
            "ip dns",
            vec![
                entry("set")
                    .p("allow-remote-requests", "yes")
                    .p("cache-max-ttl", "1d")
                    .p("servers", "9.9.9.9,149.112.112.112,1.1.1.1"),
            ],
        );
        add(
            "ip dns static",
            vec![
                entry("add")
                    .p("address", format!("{lan}.1"))
                    .p("comment", "defconf")
                    .p("name", "router.lan"),
            ],
        );
        add(
            "ip firewall address-list",
            vec![
                entry("add")
                    .p("address", format!("10.{}.10.0/24", self.site))
                    .p("list", "mgmt-hosts"),
            ],
        );
        add(
            "ip firewall filter",
            vec![
                entry("add")
                    .p("action", "accept")
                    .p("chain", "input")
                    .q("comment", "defconf: accept established,related,untracked")
                    .p("connection-state", "established,related,untracked"),
                entry("add")
                    .p("action", "drop")
                    .p("chain", "input")
                    .q("comment", "defconf: drop invalid")
                    .p("connection-state", "invalid"),
                entry("add")
                    .p("action", "accept")
                    .p("chain", "input")
                    .q("comment", "defconf: accept ICMP")
                    .p("protocol", "icmp"),
                entry("add")
                    .p("action", "accept")
                    .p("chain", "input")
                    .q("comment", "allow management")
                    .p("dst-port", "22,8291")
                    .p("protocol", "tcp")
                    .p("src-address-list", "mgmt-hosts"),
                entry("add")
                    .p("action", "drop")
                    .p("chain", "input")
                    .q("comment", "defconf: drop all not coming from LAN")
                    .p("in-interface-list", "!LAN"),
                entry("add")
                    .p("action", "drop")
                    .p("chain", "forward")
                    .q("comment", "defconf: drop all from WAN not DSTNATed")
                    .p("connection-nat-state", "!dstnat")
                    .p("connection-state", "new")
                    .p("in-interface-list", "WAN"),
            ],
        );
        let mut nat = vec![
            entry("add")
                .p("action", "masquerade")
                .p("chain", "srcnat")
                .q("comment", "defconf: masquerade")
                .p("ipsec-policy", "out,none")
                .p("out-interface-list", "WAN"),
        ];
        if rng.random_bool(0.5) {
            nat.push(
                entry("add")
                    .p("action", "dst-nat")
                    .p("chain", "dstnat")
                    .q("comment", "web server")
                    .p("dst-port", "443")
                    .p("in-interface-list", "WAN")
                    .p("protocol", "tcp")
                    .p("to-addresses", format!("{lan}.20"))
                    .p("to-ports", "443"),
            );
        }
        add("ip firewall nat", nat);
        if let Some((net, _)) = self.wan_static {
            let gw = if net == 0 {
                "198.51.100.1"
            } else {
                "203.0.113.1"
            };
            let mut r = entry("add")
                .p("disabled", "no")
                .p("dst-address", "0.0.0.0/0")
                .p("gateway", gw);
            if self.v7 {
                r = r.p("routing-table", "main").p("suppress-hw-offload", "no");
            } else {
                r = r.p("distance", "1");
            }
            add("ip route", vec![r]);
        }
        add(
            "ip service",
            vec![
                entry("set telnet").p("disabled", "yes"),
                entry("set ftp").p("disabled", "yes"),
                entry("set www").p("disabled", "yes"),
                entry("set api").p("disabled", "yes"),
                entry("set api-ssl").p("disabled", "yes"),
            ],
        );
        add("ip ssh", vec![entry("set").p("strong-crypto", "yes")]);
        let secrets = rng.random_range(1..=3);
        add(
            "ppp secret",
            (0..secrets)
                .map(|i| {
                    entry("add")
                        .p("name", format!("vpn-user{}", i + 1))
                        .secret("password", password(rng, 12))
                        .p("profile", "vpn")
                        .p("service", "l2tp")
                })
                .collect(),
        );
        add(
            "snmp",
            vec![
                entry("set")
                    .p("contact", "noc@example.net")
                    .p("enabled", "yes")
                    .q("location", format!("Site {} rack A", self.site)),
            ],
        );
        add(
            "system clock",
            vec![entry("set").p("time-zone-name", "Europe/Amsterdam")],
        );
        add("system identity", vec![entry("set").p("name", identity)]);
        add(
            "system logging",
            vec![
                entry("add")
                    .p("action", "remote")
                    .p("topics", "critical,error,warning"),
            ],
        );
        if self.v7 {
            add("system note", vec![entry("set").p("show-at-login", "no")]);
            add("system ntp client", vec![entry("set").p("enabled", "yes")]);
            add(
                "system ntp client servers",
                vec![
                    entry("add").p("address", "0.pool.ntp.org"),
                    entry("add").p("address", "1.pool.ntp.org"),
                ],
            );
        } else {
            add(
                "system ntp client",
                vec![
                    entry("set")
                        .p("enabled", "yes")
                        .p("server-dns-names", "0.pool.ntp.org,1.pool.ntp.org"),
                ],
            );
        }
        if self.model.routerboard {
            add(
                "system routerboard settings",
                vec![
                    entry("set")
                        .p("auto-upgrade", "yes")
                        .volatile(Volatile::FirmwareUpgraded),
                ],
            );
        }
        add(
            "system scheduler",
            vec![
                entry("add")
                    .p("interval", "1d")
                    .p("name", "nightly-check")
                    .q("on-event", "/system script run health-check")
                    .p(
                        "policy",
                        "ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon",
                    )
                    .p(
                        "start-date",
                        if self.version.iso_header() {
                            "2024-01-01"
                        } else {
                            "jan/01/2024"
                        },
                    )
                    .p("start-time", "03:15:00"),
            ],
        );
        add(
            "system script",
            vec![self.script_named(rng, "health-check", HEALTH_CHECK)],
        );
        add(
            "tool mac-server",
            vec![entry("set").p("allowed-interface-list", "LAN")],
        );
        add(
            "tool mac-server mac-winbox",
            vec![entry("set").p("allowed-interface-list", "LAN")],
        );
        s
    }

    fn script_named(&self, rng: &mut ChaCha8Rng, name: &str, template: &str) -> Entry {
        let token = password(rng, 16);
        let source = template
            .replace("{site}", &self.site.to_string())
            .replace("{token}", &token)
            .replace('\n', "\r\n");
        entry("add")
            .p("dont-require-permissions", "no")
            .p("name", name)
            .p("owner", "admin")
            .p(
                "policy",
                "ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon",
            )
            .secret_quoted("source", source)
    }

    fn address_list_entry(&self, rng: &mut ChaCha8Rng) -> Entry {
        let lists = ["blocklist", "bogons", "partners", "mgmt-hosts", "scanners"];
        let list = lists[rng.random_range(0..lists.len())];
        let addr = format!(
            "{}.{}.{}.{}",
            rng.random_range(11..=223u8),
            rng.random::<u8>(),
            rng.random::<u8>(),
            rng.random_range(1..255u8)
        );
        let mut e = entry("add").p("address", addr);
        if rng.random_bool(0.3) {
            e = e.q(
                "comment",
                format!("ticket #{}", rng.random_range(1000..99999u32)),
            );
        }
        e.p("list", list)
    }

    fn lease_entry(&self, rng: &mut ChaCha8Rng, n: u32) -> Entry {
        let octet = self.vlans.first().map(|v| v.2).unwrap_or(1);
        let hosts = [
            "printer", "ap", "camera", "nas", "phone", "desk", "tv", "sensor",
        ];
        let host = hosts[rng.random_range(0..hosts.len())];
        entry("add")
            .p(
                "address",
                format!(
                    "10.{}.{}.{}",
                    self.site,
                    octet.wrapping_add((n / 250 % 100) as u8),
                    2 + n % 250
                ),
            )
            .q("comment", format!("{host} {n}"))
            .p("mac-address", mac(rng))
            .p("server", "defconf")
    }

    fn dns_static_entry(&self, rng: &mut ChaCha8Rng, n: u32) -> Entry {
        entry("add")
            .p(
                "address",
                format!(
                    "10.{}.{}.{}",
                    self.site,
                    rng.random_range(1..=60u8),
                    2 + n % 250
                ),
            )
            .p("name", format!("host-{n}.site{}.lan", self.site))
            .p("ttl", "1h")
    }

    fn filter_entry(&self, rng: &mut ChaCha8Rng) -> Entry {
        let port = rng.random_range(1..65535u16);
        let proto = if rng.random_bool(0.7) { "tcp" } else { "udp" };
        let mut e = entry("add")
            .p(
                "action",
                if rng.random_bool(0.6) {
                    "accept"
                } else {
                    "drop"
                },
            )
            .p("chain", "forward")
            .q("comment", format!("rule for service {port}/{proto}"))
            .p(
                "dst-address",
                format!("{}.{}", self.lan_net(), rng.random_range(2..254u8)),
            )
            .p("dst-port", port.to_string())
            .p("protocol", proto);
        if rng.random_bool(0.4) {
            e = e.p("src-address-list", "partners");
        }
        if rng.random_bool(0.1) {
            e = e.p("disabled", "yes");
        }
        e
    }

    fn script_entry(&self, rng: &mut ChaCha8Rng, n: u32) -> Entry {
        let template = SCRIPTS[rng.random_range(0..SCRIPTS.len())];
        self.script_named(rng, &format!("job-{n}"), template)
    }
}

const HEALTH_CHECK: &str = r#":local wan [/ip address get [find interface="ether1"] address]
:log info ("health-check: WAN address is " . $wan)
:if ([/ping 9.9.9.9 count=3] = 0) do={
	:log warning "health-check: upstream unreachable, bouncing ether1"
	/interface ethernet disable ether1
	:delay 2s
	/interface ethernet enable ether1
}
# report to the NOC (token {token})
/tool fetch url="https://noc.example.net/hc?site={site}&token={token}" keep-result=no"#;

const SCRIPTS: &[&str] = &[
    r#":foreach i in=[/ip dhcp-server lease find dynamic=yes] do={
	:local mac [/ip dhcp-server lease get $i mac-address]
	:log info "lease: $mac"
}"#,
    r#":local name [/system identity get name]
:local file ("backup-" . $name)
/system backup save name=$file password="{token}"
:put "saved \"$file\" on site {site}""#,
    r#"# café wifi rotation \ weekly
:local psk [:pick [/certificate scep-server otp generate as-value minutes-valid=1] 0 12]
/interface wireless security-profiles set guest wpa2-pre-shared-key=$psk
:log info "guest key rotated?""#,
];

// === rendering: quoting, escaping and wrapping ===

/// Where a logical line may be broken (before the byte at that index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Brk {
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
struct Logical {
    text: String,
    /// `brk[i]`: whether a break may go before byte `i`.
    brk: Vec<Brk>,
}

impl Logical {
    fn clear(&mut self) {
        self.text.clear();
        self.brk.clear();
    }

    fn push(&mut self, s: &str, before: Brk, inside: Brk) {
        for (i, b) in s.bytes().enumerate() {
            self.brk.push(if i == 0 { before } else { inside });
            self.text.push(b as char);
        }
    }

    fn build(&mut self, e: &Entry, sensitive: Sensitive) {
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

    fn push_key(&mut self, key: &str) {
        self.push(" ", Brk::No, Brk::No);
        self.push(key, Brk::Item, Brk::Fallback);
        self.push("=", Brk::Fallback, Brk::No);
    }

    /// The position after the last byte (never a break).
    fn finish(&mut self) {
        self.brk.push(Brk::No);
    }

    /// A quoted value from its escape units (`a`, `\"`, `\r`, `\C3`).
    fn push_quoted(&mut self, escaped: &[String]) {
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
    fn emit(&self, out: &mut String, wrap: bool, nl: &str) {
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
fn needs_quotes(v: &str) -> bool {
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
fn escape_byte(b: u8) -> String {
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

// === small deterministic helpers ===

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// UTC civil time of a Unix millisecond timestamp (Hinnant's algorithm).
fn civil(at_millis: u64) -> (i64, u32, u32, u32, u32, u32) {
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
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn code(rng: &mut ChaCha8Rng, n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn hex_upper(rng: &mut ChaCha8Rng, n: usize) -> String {
    (0..n)
        .map(|_| b"0123456789ABCDEF"[rng.random_range(0..16)] as char)
        .collect()
}

fn password(rng: &mut ChaCha8Rng, n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn mac(rng: &mut ChaCha8Rng) -> String {
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
fn b64key(rng: &mut ChaCha8Rng) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s: String = (0..42)
        .map(|_| B64[rng.random_range(0..64)] as char)
        .collect();
    // The last character of 32 bytes in base64 carries 4 significant bits.
    s.push(B64[rng.random_range(0..16) * 4] as char);
    s.push('=');
    s
}

fn identity(rng: &mut ChaCha8Rng) -> String {
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

fn ssid(rng: &mut ChaCha8Rng) -> String {
    let names = ["Office", "Staff WiFi", "Warehouse", "Lab-5G", "Shop floor"];
    names[rng.random_range(0..names.len())].to_owned()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::normalize;

    const JUN_12_2023: u64 = 1_686_588_052_000; // 2023-06-12 16:40:52 UTC

    fn spec(seed: u64, version: &str, bytes: usize) -> ExportSpec {
        ExportSpec::new(seed, RouterOsVersion::parse(version).unwrap(), bytes)
    }

    #[test]
    fn header_uses_the_versions_own_date_format() {
        let v6 = GeneratedExport::generate(&spec(1, "6.49.7", 2000));
        assert_eq!(
            v6.header_line(JUN_12_2023),
            "# jun/12/2023 16:40:52 by RouterOS 6.49.7"
        );
        let v79 = GeneratedExport::generate(&spec(1, "7.9.2", 2000));
        assert_eq!(
            v79.header_line(JUN_12_2023),
            "# jun/12/2023 16:40:52 by RouterOS 7.9.2"
        );
        let v710 = GeneratedExport::generate(&spec(1, "7.10.1", 2000));
        assert_eq!(
            v710.header_line(JUN_12_2023),
            "# 2023-06-12 16:40:52 by RouterOS 7.10.1"
        );
        for g in [&v6, &v79, &v710] {
            let text = g.render(JUN_12_2023, Sensitive::Show);
            let header = normalize::find_header(&text).expect("header recognised");
            assert_eq!(header.version, g.version().as_str());
        }
    }

    #[test]
    fn civil_time_matches_known_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400_000), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil(JUN_12_2023), (2023, 6, 12, 16, 40, 52));
        assert_eq!(civil(1_704_067_199_000), (2023, 12, 31, 23, 59, 59));
    }

    #[test]
    fn renderings_at_different_times_normalize_to_one_hash() {
        for (seed, version) in [(1, "7.15.3"), (2, "6.49.7"), (3, "7.8"), (4, "7.18.2")] {
            let g = GeneratedExport::generate(&spec(seed, version, 30_000));
            let mut hashes = Vec::new();
            let mut texts = Vec::new();
            for k in 0..12u64 {
                let at = JUN_12_2023 + k * 3_700_000 + k * 61_000;
                let text = g.render(at, Sensitive::Show);
                hashes.push(normalize::normalized_hash(&text).1);
                texts.push(text);
            }
            assert!(hashes.iter().all(|h| *h == hashes[0]), "seed {seed}");
            // The raw texts differ (header time, volatile comments), so the
            // equal hashes are the normalizer's doing.
            assert_ne!(texts[0], texts[1]);
            let distinct: std::collections::BTreeSet<&String> = texts.iter().collect();
            assert!(distinct.len() > 1);
        }
    }

    #[test]
    fn volatile_comments_appear_and_are_dropped() {
        let mut seen_not_ready = false;
        let mut seen_firmware = false;
        let mut seen_inactive = false;
        for seed in 0..40 {
            let g = GeneratedExport::generate(&spec(seed, "7.15.3", 4000));
            for k in 0..6u64 {
                let text = g.render(JUN_12_2023 + k * 3_600_000, Sensitive::Show);
                seen_not_ready |= text.contains(" not ready\n");
                seen_firmware |= text.contains("# Firmware upgraded successfully");
                seen_inactive |= text.contains("# inactive time ");
                let normalized = normalize::normalize(&text);
                assert!(!normalized.contains("not ready"));
                assert!(!normalized.contains("Firmware upgraded"));
                assert!(!normalized.contains("inactive time"));
            }
        }
        assert!(seen_not_ready && seen_firmware && seen_inactive);
    }

    #[test]
    fn same_seed_same_config_other_seed_other_config() {
        let a = GeneratedExport::generate(&spec(7, "7.15.3", 20_000)).render(0, Sensitive::Show);
        let b = GeneratedExport::generate(&spec(7, "7.15.3", 20_000)).render(0, Sensitive::Show);
        let c = GeneratedExport::generate(&spec(8, "7.15.3", 20_000)).render(0, Sensitive::Show);
        assert_eq!(a, b);
        assert_ne!(
            normalize::normalized_hash(&a).1,
            normalize::normalized_hash(&c).1
        );
    }

    #[test]
    fn exports_pass_the_export_check_and_stay_within_79_columns() {
        for seed in 0..30u64 {
            let version = if seed % 3 == 0 { "6.49.7" } else { "7.16.2" };
            let mut s = spec(seed, version, 8_000 + seed as usize * 1000);
            if seed % 2 == 0 {
                s.line_ending = LineEnding::CrLf;
            }
            let text = GeneratedExport::generate(&s).render(JUN_12_2023, Sensitive::Show);
            normalize::check_export(text.as_bytes()).expect("passes check_export");
            for line in text.lines() {
                let line = line.trim_end_matches('\r');
                assert!(
                    line.len() <= WIDTH,
                    "seed {seed}: {} chars: {line}",
                    line.len()
                );
                assert!(line.is_ascii());
                if !line.ends_with('\\') && !line.starts_with("# ") {
                    assert!(line.len() <= TOKEN_END, "seed {seed}: {line}");
                }
            }
            if s.line_ending == LineEnding::CrLf {
                assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());
            } else {
                assert!(!text.contains('\r'));
            }
        }
    }

    #[test]
    fn sizes_follow_the_target() {
        for target in [1_000usize, 10_000, 100_000, 1_000_000] {
            let text = GeneratedExport::generate(&spec(3, "7.15.3", target))
                .render(JUN_12_2023, Sensitive::Show);
            if target >= 10_000 {
                assert!(text.len() >= target, "{} < {target}", text.len());
                assert!(text.len() < target + 2_000, "{} >> {target}", text.len());
            } else {
                assert!(text.len() < 10_000);
            }
        }
    }

    #[test]
    fn wrapped_and_unwrapped_normalize_the_same() {
        let mut s = spec(11, "7.18.2", 40_000);
        let wrapped = GeneratedExport::generate(&s).render(JUN_12_2023, Sensitive::Show);
        s.wrap = false;
        let flat = GeneratedExport::generate(&s).render(JUN_12_2023, Sensitive::Show);
        assert!(wrapped.lines().any(|l| l.ends_with('\\')));
        assert!(!flat.lines().any(|l| l.ends_with('\\')));
        assert!(
            normalize::normalize(&wrapped) == normalize::normalize(&flat),
            "wrapped and unwrapped renderings differ after normalization"
        );
    }

    #[test]
    fn scripts_are_escaped_and_break_after_escaped_cr() {
        let text = GeneratedExport::generate(&spec(5, "7.15.3", 2_000))
            .render(JUN_12_2023, Sensitive::Show);
        assert!(text.contains("/system script\nadd dont-require-permissions=no name=health-check"));
        assert!(text.contains("\\$wan"));
        assert!(text.contains("\\\"ether1\\\""));
        assert!(text.contains("\\r\\\n    \\n"));
        // Joined back, the source reads as one quoted string with \r\n escapes.
        let normalized = normalize::normalize(&text);
        let line = normalized
            .lines()
            .find(|l| l.contains("name=health-check"))
            .unwrap();
        assert!(line.contains(":log info (\\\"health-check: WAN address is \\\" . \\$wan)\\r\\n"));
        assert!(line.ends_with("keep-result=no\""));
    }

    #[test]
    fn hidden_sensitive_values_are_left_out() {
        let g = GeneratedExport::generate(&spec(9, "7.15.3", 20_000));
        let shown = g.render(JUN_12_2023, Sensitive::Show);
        let hidden = g.render(JUN_12_2023, Sensitive::Hide);
        assert!(shown.contains("password="));
        assert!(!hidden.contains("password="));
        assert!(!hidden.contains("source="));
        assert!(hidden.len() < shown.len());
        normalize::check_export(hidden.as_bytes()).unwrap();
    }

    #[test]
    fn quoting_follows_routeros() {
        assert!(!needs_quotes("ether1"));
        assert!(!needs_quotes("10M-half,10M-full"));
        assert!(!needs_quotes("AAAA+/b="));
        assert!(needs_quotes(""));
        assert!(needs_quotes("defconf: masquerade"));
        assert!(needs_quotes("a$b"));
        assert_eq!(escape_byte(0xe9), "\\E9");
        assert_eq!(escape_byte(b'$'), "\\$");
    }

    #[test]
    fn bad_versions_are_named() {
        let e = RouterOsVersion::parse("8.1").unwrap_err();
        assert!(e.to_string().contains("\"8.1\""));
        assert!(RouterOsVersion::parse("seven").is_err());
        assert!(RouterOsVersion::parse("7.15.3.1").is_err());
        assert_eq!(RouterOsVersion::parse("7.10").unwrap().major(), 7);
    }

    #[test]
    fn bulk_lines_are_an_export_tail() {
        let mut bulk = BulkLines::new(3, LineEnding::Lf);
        let mut out = bulk.header();
        bulk.fill(&mut out, 10_000);
        assert!(out.len() >= 10_000);
        assert!(out.lines().skip(1).all(|l| l.starts_with("add address=")));
    }

    /// The real exports, when the shared fixtures are present.
    fn fixture_dir() -> Option<std::path::PathBuf> {
        let dir = std::env::var_os("CONFKEEP_FIXTURES")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/routeros")
            });
        dir.is_dir().then_some(dir)
    }

    /// Split an escaped quoted body into escape units (`a`, `\"`, `\C3`).
    fn escape_units(body: &str) -> Vec<String> {
        let b = body.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\' && i + 1 < b.len() {
                let hex = i + 2 < b.len()
                    && b[i + 1].is_ascii_hexdigit()
                    && b[i + 2].is_ascii_hexdigit()
                    && b[i + 1].is_ascii_uppercase() | b[i + 1].is_ascii_digit();
                let n = if hex { 3 } else { 2 };
                out.push(body[i..i + n].to_owned());
                i += n;
            } else {
                out.push(body[i..i + 1].to_owned());
                i += 1;
            }
        }
        out
    }

    /// Rebuild a logical export line as our wrapper sees it, or `None` when
    /// it is not `command key=value…` (comments, odd shapes).
    fn logical_from_text(line: &str) -> Option<Logical> {
        // Tokens split on spaces outside quotes and brackets.
        let mut tokens: Vec<(String, usize)> = Vec::new();
        let (mut cur, mut depth, mut quoted, mut esc) = (String::new(), 0usize, false, false);
        for c in line.chars() {
            if quoted {
                cur.push(c);
                if esc {
                    esc = false;
                } else if c == '\\' {
                    esc = true;
                } else if c == '"' {
                    quoted = false;
                }
                continue;
            }
            match c {
                ' ' => {
                    if !cur.is_empty() {
                        tokens.push((std::mem::take(&mut cur), depth));
                    }
                    continue;
                }
                '"' => quoted = true,
                '[' => depth += 1,
                ']' => depth = depth.checked_sub(1)?,
                _ => {}
            }
            cur.push(c);
            if c == '[' && cur.len() == 1 {
                // `[` is its own token in `set [ find … ]`.
            }
        }
        if quoted || depth != 0 {
            return None;
        }
        if !cur.is_empty() {
            tokens.push((cur, depth));
        }
        let first_item = tokens
            .iter()
            .position(|(t, d)| *d == 0 && t.contains('=') && !t.starts_with('['))?;
        if tokens[..first_item].iter().any(|(t, _)| t.contains('"')) {
            return None;
        }
        let command: Vec<&str> = tokens[..first_item]
            .iter()
            .map(|(t, _)| t.as_str())
            .collect();
        let mut l = Logical::default();
        l.push(&command.join(" "), Brk::No, Brk::No);
        for (t, _) in &tokens[first_item..] {
            let (key, value) = t.split_once('=')?;
            l.push_key(key);
            if let Some(body) = value.strip_prefix('"') {
                let body = body.strip_suffix('"')?;
                l.push_quoted(&escape_units(body));
            } else {
                if value.is_empty() {
                    return None;
                }
                l.push(value, Brk::Eq, Brk::Fallback);
            }
        }
        l.finish();
        (l.text == line).then_some(l)
    }

    #[test]
    fn wrapping_reproduces_real_exports() {
        let Some(dir) = fixture_dir() else {
            return; // the shared fixtures are not on this machine
        };
        // Compact, wrapped exports: the style this generator writes.
        let files = [
            "01-v6.20-rb2011-ipv6-workshop-core1.rsc",
            "04-v6.49.7-compact-no-final-newline.rsc",
            "05-v6.49.7-hap-verbose.rsc",
            "06-v7.2.3-rb5009-capsman-vlans.rsc",
            "08-v7.5-chr-wireguard-vxlan-crlf.rsc",
            "12-v7.15-hex-s-scripts-escaped.rsc",
        ];
        let (mut checked, mut same) = (0usize, 0usize);
        let mut differing = Vec::new();
        for name in files {
            let Ok(raw) = std::fs::read_to_string(dir.join(name)) else {
                continue;
            };
            let lines: Vec<&str> = raw.lines().collect();
            let mut i = 0;
            while i < lines.len() {
                let start = i;
                let mut physical = vec![lines[i]];
                while physical.last().unwrap().ends_with('\\') && i + 1 < lines.len() {
                    i += 1;
                    physical.push(lines[i]);
                }
                i += 1;
                let joined = normalize::normalize(&physical.join("\n"));
                let joined = joined.trim_end();
                if joined.starts_with('#') || joined.starts_with('/') {
                    continue;
                }
                let Some(logical) = logical_from_text(joined) else {
                    continue;
                };
                let mut ours = String::new();
                logical.emit(&mut ours, true, "\n");
                checked += 1;
                if ours.lines().eq(physical.iter().copied()) {
                    same += 1;
                } else {
                    differing.push(format!("{name}:{}", start + 1));
                }
            }
        }
        assert!(checked > 300, "only {checked} entries checked");
        // Line numbers only: the fixtures' content stays out of test output.
        assert!(
            same == checked,
            "{same} of {checked} entries wrapped as RouterOS wraps them; differing: {differing:?}"
        );
    }

    #[test]
    fn edits_change_the_hash_one_entry_at_a_time() {
        let g = GeneratedExport::generate(&spec(12, "7.15.3", 8_000));
        let one = g.edited(1);
        let two = one.edited(2);
        let hash = |g: &GeneratedExport| {
            normalize::normalized_hash(&g.render(JUN_12_2023, Sensitive::Show)).1
        };
        assert_ne!(hash(&g), hash(&one));
        assert_ne!(hash(&one), hash(&two));
        assert_eq!(hash(&two), hash(&g.edited(1).edited(2)));
        let (a, b) = (
            normalize::normalize(&g.render(0, Sensitive::Show)),
            normalize::normalize(&one.render(0, Sensitive::Show)),
        );
        assert_eq!(b.lines().count(), a.lines().count() + 1);
        assert!(b.contains("comment=\"blocked by NOC, change 1\""));
    }
}
