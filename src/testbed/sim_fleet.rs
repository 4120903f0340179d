//! A simulated fleet of RouterOS devices on russh's server side.
//!
//! Tests, benchmarks, the demo and `confkeep sim-devices` need routers to
//! back up, including routers that misbehave. Each simulated device prints an
//! export from [`super::routeros_gen`] and can carry [`Fault`]s.
//!
//! Choices where the brief left room:
//!
//! - **One loopback port per device** (not one port with per-user devices):
//!   each device then has its own host key, exactly as a real fleet does, so
//!   a replaced host key concerns one device, and "connection refused" is a
//!   closed port. `FleetSpec::first_port = Some(P)` puts device *i* (0-based)
//!   on `P + i`; `None` gives every device an ephemeral port (tests).
//! - **Host keys** are ed25519 (RSA 2048 for a legacy-algorithms device),
//!   derived from the fleet seed and the device number
//!   (`Ed25519Keypair::from_seed`, RSA from a seeded ChaCha8): the same seed
//!   serves the same keys
//!   after a restart, so a daemon's trusted-on-first-use fingerprints stay
//!   valid across `sim-devices` restarts.
//! - **Authentication** as RouterOS: only `password` is advertised (plus
//!   `publickey` when the device has authorized keys), also after a failed
//!   attempt (russh would otherwise advertise every method). The rejection
//!   delay is [`FleetSpec::auth_rejection_delay`] (20 ms by default, not
//!   russh's 1 s, so tests of a wrong password stay fast). The server
//!   identifies as `SSH-2.0-ROSSSH`, as RouterOS does.
//! - **Commands**: `/export show-sensitive` prints the export with secrets on
//!   RouterOS 7; on RouterOS 6 it prints RouterOS's syntax error
//!   `expected end of command (line 1 column 9)` (the column of the first
//!   unexpected word). `/export` prints secrets on v6 and hides them on v7;
//!   `/export hide-sensitive` hides them on both. `/system identity print`
//!   prints the identity; anything else gets `bad command name …`. RouterOS
//!   reports console errors as text, not through the exit status: every
//!   answer, errors included, ends with exit status 0, then EOF and close, so
//!   a collector must read the text to see the failure.
//! - **Run-time changes** for demos: [`SimDevice::set_faults`] (the password
//!   was fixed, the router was replaced) and [`SimDevice::edit_config`] (one
//!   more address-list entry: a new hash to back up).
//! - **Connections are counted per device** from 0, every accepted TCP
//!   connection included; flaky failures and host-key replacement are
//!   decided from that count (and the seed), so a run is reproducible when a
//!   device's connections arrive one at a time.
//!
//! Faults (several may apply to one device; see [`Fault`] for each):
//! wrong password, host key replaced, TCP accept then silence, silence
//! mid-output, close before exit status, oversized output (streamed in 64 KiB
//! chunks under SSH flow control, never held in memory), slow output,
//! RouterOS 6 (syntax error for `show-sensitive`), connection refused,
//! garbage output, flaky, legacy algorithms only (SHA-1 key exchange and
//! MACs, `ssh-rsa` host key, as old RouterOS 6 releases), and a banner that
//! never ends.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{HashAlg, PrivateKey, PublicKey};
use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, ChannelWriteHalf, MethodKind, MethodSet};
use std::os::fd::AsFd;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::routeros_gen::{
    BulkLines, ExportSpec, GeneratedExport, LineEnding, RouterOsVersion, Sensitive, V6_VERSIONS,
    V7_VERSIONS,
};
use super::sim_hostile::{Raw, misbehave};

/// Bytes per write on the channel (under SSH flow control).
const CHUNK: usize = 64 * 1024;

/// A way a simulated device misbehaves.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The device's real password differs from the one in the inventory: every
    /// password attempt is rejected.
    WrongPassword,
    /// From its `after`-th connection on (0-based; 0 = always) the device
    /// presents a different host key than the one listed as its fingerprint,
    /// as after a hardware replacement.
    HostKeyReplaced { after: u64 },
    /// TCP is accepted, then nothing: no SSH banner, ever.
    SilentAfterAccept,
    /// The export starts, then stops after `after_bytes` bytes and the
    /// channel stays open and silent.
    SilentMidOutput { after_bytes: u64 },
    /// The whole export, then EOF and close without an exit status.
    CloseBeforeExitStatus,
    /// A valid export padded with address-list entries to `bytes` bytes.
    Oversized { bytes: u64 },
    /// The export trickles at `bytes_per_sec` (in 10 writes per second).
    SlowOutput { bytes_per_sec: u64 },
    /// The device runs RouterOS 6: `/export show-sensitive` is a syntax error.
    RouterOs6,
    /// Nothing listens on the device's port.
    ConnectionRefused,
    /// `bytes` of binary noise instead of an export, exit status 0.
    Garbage { bytes: u64 },
    /// This share of connections (0.0–1.0, deterministic from the seed and the
    /// connection number) is reset right after the TCP accept.
    Flaky { ratio: f64 },
    /// Speaks only what old RouterOS 6 speaks: `diffie-hellman-group14-sha1`
    /// / `group1-sha1` key exchange, `hmac-sha1`, AES-CTR and an `ssh-rsa`
    /// (RSA 2048, SHA-1 signature) host key. A client without its legacy
    /// algorithms enabled cannot agree on a key exchange.
    LegacyAlgorithms,
    /// TCP accepted, then pre-identification text lines forever (RFC 4253
    /// allows lines before `SSH-2.0-…`): a banner that never ends, as fast
    /// as the client reads it.
    EndlessBanner,
    /// After the export's header, one line of `bytes` bytes that never
    /// ends in a newline.
    HugeLine { bytes: u64 },
    /// After the exec request, the device opens `count` channels towards
    /// the client (sessions, forwarded TCP, X11, agent) before it answers.
    ChannelFlood { count: u32 },
    /// The identification and the device's KEXINIT, then silence: a key
    /// exchange that never completes.
    StalledKex,
    /// The connection drops at this stage of the protocol.
    DisconnectAt { stage: DropStage },
}

/// Where a [`Fault::DisconnectAt`] device drops the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropStage {
    /// Right after its identification line.
    Banner,
    /// Right after its KEXINIT, mid key exchange.
    Kex,
    /// When the password arrives.
    Auth,
    /// When the command arrives.
    Exec,
    /// Halfway through the export, without an exit status.
    Output,
}

impl DropStage {
    /// Every stage, in protocol order.
    pub const ALL: [DropStage; 5] = [
        DropStage::Banner,
        DropStage::Kex,
        DropStage::Auth,
        DropStage::Exec,
        DropStage::Output,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropStage::Banner => "banner",
            DropStage::Kex => "kex",
            DropStage::Auth => "auth",
            DropStage::Exec => "exec",
            DropStage::Output => "output",
        }
    }
}

impl Fault {
    /// The name used in fault specs and inventory tags.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::WrongPassword => "wrong-password",
            Fault::HostKeyReplaced { .. } => "host-key-replaced",
            Fault::SilentAfterAccept => "silent-after-accept",
            Fault::SilentMidOutput { .. } => "silent-mid-output",
            Fault::CloseBeforeExitStatus => "close-before-exit-status",
            Fault::Oversized { .. } => "oversized",
            Fault::SlowOutput { .. } => "slow",
            Fault::RouterOs6 => "routeros6",
            Fault::ConnectionRefused => "refused",
            Fault::Garbage { .. } => "garbage",
            Fault::Flaky { .. } => "flaky",
            Fault::LegacyAlgorithms => "legacy-algorithms",
            Fault::EndlessBanner => "endless-banner",
            Fault::HugeLine { .. } => "huge-line",
            Fault::ChannelFlood { .. } => "channel-flood",
            Fault::StalledKex => "stalled-kex",
            Fault::DisconnectAt { .. } => "disconnect",
        }
    }
}

/// A bad `--faults` spec, naming the offending token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultSpecError {
    #[error("fault spec token {token:?}: expected KIND[:PARAM]=DEVICES, e.g. wrong-password=1,3")]
    Shape { token: String },
    #[error(
        "fault spec token {token:?}: unknown fault {kind:?}; known: wrong-password, host-key-replaced, silent-after-accept (silence), silent-mid-output, close-before-exit-status (no-exit-status), oversized (too-large), slow, routeros6 (v6), refused, garbage, flaky, legacy-algorithms (legacy), endless-banner, huge-line, channel-flood, stalled-kex, disconnect:banner|kex|auth|exec|output"
    )]
    UnknownKind { token: String, kind: String },
    #[error("fault spec token {token:?}: bad parameter {param:?} ({why})")]
    BadParam {
        token: String,
        param: String,
        why: &'static str,
    },
    #[error(
        "fault spec token {token:?}: device {device:?} is not in 1..={count} (devices are numbered as in their ids, sim-0001 is 1), nor a range N-M or `all`"
    )]
    BadDevice {
        token: String,
        device: String,
        count: usize,
    },
}

/// Parse a fault spec into faults per device index (0-based).
///
/// Syntax: groups separated by `;`, each `KIND[:PARAM]=DEVICES`, where
/// DEVICES is a comma list of device numbers as in the ids (1 = `sim-0001`),
/// ranges `N-M`, or `all`. Parameters: `host-key-replaced:AFTER` (connections
/// before the swap, default 1), `silent-mid-output:BYTES` (default 4096),
/// `oversized:BYTES` (default 20MiB), `slow:BYTES_PER_SEC` (default 1024),
/// `garbage:BYTES` (default 4096), `flaky:RATIO` (default 0.3). Sizes take
/// `K`, `KiB`, `M`, `MiB` suffixes. Example:
/// `wrong-password=1,3;host-key-replaced:2=5;silence=7;flaky:0.5=8-10`.
pub fn parse_fault_spec(
    spec: &str,
    count: usize,
) -> Result<BTreeMap<usize, Vec<Fault>>, FaultSpecError> {
    let mut out: BTreeMap<usize, Vec<Fault>> = BTreeMap::new();
    for token in spec.split(';').map(str::trim).filter(|t| !t.is_empty()) {
        let shape = || FaultSpecError::Shape {
            token: token.to_owned(),
        };
        let (head, devices) = token.split_once('=').ok_or_else(shape)?;
        let (kind, param) = match head.split_once(':') {
            Some((k, p)) => (k.trim(), Some(p.trim())),
            None => (head.trim(), None),
        };
        let fault = parse_fault(token, kind, param)?;
        let devices = devices.trim();
        if devices.is_empty() {
            return Err(shape());
        }
        for index in parse_devices(token, devices, count)? {
            out.entry(index).or_default().push(fault.clone());
        }
    }
    Ok(out)
}

fn parse_fault(token: &str, kind: &str, param: Option<&str>) -> Result<Fault, FaultSpecError> {
    let bad = |param: &str, why: &'static str| FaultSpecError::BadParam {
        token: token.to_owned(),
        param: param.to_owned(),
        why,
    };
    let size = |default: u64| -> Result<u64, FaultSpecError> {
        match param {
            None => Ok(default),
            Some(p) => {
                parse_size(p).ok_or_else(|| bad(p, "expected a byte count like 4096, 64K or 20MiB"))
            }
        }
    };
    let no_param = |f: Fault| match param {
        None => Ok(f),
        Some(p) => Err(bad(p, "this fault takes no parameter")),
    };
    match kind {
        "wrong-password" => no_param(Fault::WrongPassword),
        "host-key-replaced" => {
            let after = match param {
                None => 1,
                Some(p) => p
                    .parse()
                    .map_err(|_| bad(p, "expected a connection count like 1"))?,
            };
            Ok(Fault::HostKeyReplaced { after })
        }
        "silent-after-accept" | "silence" => no_param(Fault::SilentAfterAccept),
        "silent-mid-output" => Ok(Fault::SilentMidOutput {
            after_bytes: size(4096)?,
        }),
        "close-before-exit-status" | "no-exit-status" => no_param(Fault::CloseBeforeExitStatus),
        "oversized" | "too-large" => Ok(Fault::Oversized {
            bytes: size(20 * 1024 * 1024)?,
        }),
        "slow" => {
            let bytes_per_sec = size(1024)?;
            if bytes_per_sec == 0 {
                return Err(bad(
                    param.unwrap_or("0"),
                    "must be at least 1 byte per second",
                ));
            }
            Ok(Fault::SlowOutput { bytes_per_sec })
        }
        "routeros6" | "v6" => no_param(Fault::RouterOs6),
        "legacy-algorithms" | "legacy" => no_param(Fault::LegacyAlgorithms),
        "endless-banner" => no_param(Fault::EndlessBanner),
        "huge-line" => Ok(Fault::HugeLine {
            bytes: size(20 * 1024 * 1024)?,
        }),
        "channel-flood" => {
            let count = match param {
                None => 500,
                Some(p) => p
                    .parse()
                    .map_err(|_| bad(p, "expected a channel count like 500"))?,
            };
            Ok(Fault::ChannelFlood { count })
        }
        "stalled-kex" => no_param(Fault::StalledKex),
        "disconnect" => {
            let p = param.unwrap_or("output");
            let stage = DropStage::ALL
                .into_iter()
                .find(|s| s.name() == p)
                .ok_or_else(|| bad(p, "expected banner, kex, auth, exec or output"))?;
            Ok(Fault::DisconnectAt { stage })
        }
        "refused" | "connection-refused" => no_param(Fault::ConnectionRefused),
        "garbage" => Ok(Fault::Garbage { bytes: size(4096)? }),
        "flaky" => {
            let ratio = match param {
                None => 0.3,
                Some(p) => p
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| bad(p, "expected a ratio between 0 and 1 like 0.3"))?,
            };
            Ok(Fault::Flaky { ratio })
        }
        other => Err(FaultSpecError::UnknownKind {
            token: token.to_owned(),
            kind: other.to_owned(),
        }),
    }
}

fn parse_devices(token: &str, devices: &str, count: usize) -> Result<Vec<usize>, FaultSpecError> {
    if devices == "all" {
        return Ok((0..count).collect());
    }
    let mut out = Vec::new();
    for part in devices.split(',').map(str::trim) {
        let bad = || FaultSpecError::BadDevice {
            token: token.to_owned(),
            device: part.to_owned(),
            count,
        };
        let number = |s: &str| -> Result<usize, FaultSpecError> {
            let s = s.trim();
            let s = s.strip_prefix("sim-").unwrap_or(s);
            s.parse::<usize>()
                .ok()
                .filter(|n| (1..=count).contains(n))
                .ok_or_else(bad)
        };
        match part.split_once('-').filter(|_| !part.starts_with("sim-")) {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b {
                    return Err(bad());
                }
                out.extend(a - 1..b);
            }
            None => out.push(number(part)? - 1),
        }
    }
    Ok(out)
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(digits);
    let n: u64 = n.parse().ok()?;
    let mult = match unit.trim() {
        "" | "B" | "b" => 1,
        "K" | "k" | "KiB" | "KB" | "kB" => 1024,
        "M" | "MiB" | "MB" => 1024 * 1024,
        "G" | "GiB" | "GB" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// One device to simulate.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    pub id: String,
    pub tenant: String,
    pub user: String,
    /// The password the inventory lists (simulation passwords are no secret).
    pub password: String,
    pub version: RouterOsVersion,
    /// Seed of the device's configuration (its export).
    pub export_seed: u64,
    /// Approximate export size in bytes.
    pub export_bytes: usize,
    pub line_ending: LineEnding,
    pub wrap: bool,
    pub faults: Vec<Fault>,
    /// Keys accepted for `publickey` authentication (none: password only).
    pub authorized_keys: Vec<PublicKey>,
}

impl DeviceSpec {
    /// Whether the device carries a fault of this kind.
    pub fn has(&self, name: &str) -> bool {
        self.faults.iter().any(|f| f.name() == name)
    }
}

/// The whole fleet to serve.
#[derive(Debug, Clone)]
pub struct FleetSpec {
    /// Seeds the host keys and everything a fault draws.
    pub seed: u64,
    pub host: IpAddr,
    /// Device *i* listens on `first_port + i`; `None`: ephemeral ports.
    pub first_port: Option<u16>,
    pub devices: Vec<DeviceSpec>,
    /// How long a rejected authentication takes (RouterOS-like servers
    /// delay; tests want it short).
    pub auth_rejection_delay: Duration,
    /// The time printed in export headers.
    pub clock: SimClock,
}

/// Where the devices' clocks come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SimClock {
    /// The machine's clock, as a router's NTP-synced clock.
    #[default]
    System,
    /// Starts at `start_millis` and moves on `step_millis` at every export
    /// printed (fleet-wide): distinct headers without waiting.
    Stepped { start_millis: u64, step_millis: u64 },
}

impl FleetSpec {
    /// `count` healthy RouterOS 7 devices `sim-0001`… of tenant `demo`, user
    /// `admin`, on ephemeral loopback ports; everything else from `seed`.
    pub fn generated(count: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(seed ^ 0x5EED));
        let devices = (0..count)
            .map(|i| {
                let version = V7_VERSIONS[rng.random_range(0..V7_VERSIONS.len())];
                let export_bytes = rng.random_range(4 * 1024..48 * 1024);
                DeviceSpec {
                    id: format!("sim-{:04}", i + 1),
                    tenant: "demo".to_owned(),
                    user: "admin".to_owned(),
                    password: alnum(&mut rng, 16),
                    version: RouterOsVersion::parse(version).expect("listed versions parse"),
                    export_seed: rng.random(),
                    export_bytes,
                    line_ending: if rng.random_bool(0.7) {
                        LineEnding::CrLf
                    } else {
                        LineEnding::Lf
                    },
                    wrap: rng.random_bool(0.9),
                    faults: Vec::new(),
                    authorized_keys: Vec::new(),
                }
            })
            .collect();
        FleetSpec {
            seed,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            first_port: None,
            devices,
            auth_rejection_delay: Duration::from_millis(20),
            clock: SimClock::System,
        }
    }

    /// Give device `index` (0-based) a fault. `RouterOs6` also switches its
    /// version to a RouterOS 6 release.
    pub fn add_fault(&mut self, index: usize, fault: Fault) -> &mut Self {
        if let Some(d) = self.devices.get_mut(index) {
            if fault == Fault::RouterOs6 && d.version.major() != 6 {
                let pick = (d.export_seed % V6_VERSIONS.len() as u64) as usize;
                d.version =
                    RouterOsVersion::parse(V6_VERSIONS[pick]).expect("listed versions parse");
            }
            d.faults.push(fault);
        }
        self
    }

    /// Apply a parsed fault spec (see [`parse_fault_spec`]).
    pub fn apply_faults(&mut self, faults: &BTreeMap<usize, Vec<Fault>>) -> &mut Self {
        for (index, list) in faults {
            for f in list {
                self.add_fault(*index, f.clone());
            }
        }
        self
    }
}

/// Why the fleet could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimFleetError {
    #[error("device {device}: cannot listen on {addr}: {source}")]
    Bind {
        device: String,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("device {device}: port {first_port} + {index} is beyond 65535")]
    PortRange {
        device: String,
        first_port: u16,
        index: usize,
    },
}

/// A running device as tests see it.
#[derive(Debug, Clone)]
pub struct SimDevice {
    pub id: String,
    pub tenant: String,
    pub addr: SocketAddr,
    pub user: String,
    /// The password the inventory lists (rejected under `WrongPassword`).
    pub password: String,
    /// RouterOS version as printed in the export header.
    pub version: String,
    /// `SHA256:` + unpadded base64 of the device's (original) host key, as
    /// `ssh-keygen -l` prints it: what an operator would have trusted.
    pub host_key_fingerprint: String,
    /// The key presented once a `HostKeyReplaced` fault kicks in (none for a
    /// legacy-algorithms device started without that fault).
    pub replacement_host_key_fingerprint: Option<String>,
    /// The faults the device started with (see [`SimDevice::current_faults`]).
    pub faults: Vec<Fault>,
    runtime: Arc<DeviceRuntime>,
}

impl SimDevice {
    /// The exact text the device prints for `command` at `at_millis`
    /// (milliseconds since the Unix epoch), fault-free: what a good
    /// collection of this device returns.
    pub fn output_at(&self, command: &str, at_millis: u64) -> String {
        match self.runtime.answer(command) {
            Answer::Export(sensitive) => self.runtime.export().render(at_millis, sensitive),
            Answer::Text(text) => text,
        }
    }

    /// The export as the collector asks for it (`/export show-sensitive` on
    /// v7, `/export` on v6) at `at_millis`.
    pub fn export_text_at(&self, at_millis: u64) -> String {
        let sensitive = Sensitive::Show;
        self.runtime.export().render(at_millis, sensitive)
    }

    /// SHA-256 of the normalized export (the hash a good backup files under).
    pub fn expected_hash(&self) -> String {
        crate::domain::normalize::normalized_hash(&self.export_text_at(0)).1
    }

    /// Replace the device's faults from now on (the demo's "the operator
    /// fixed the password", "the router was replaced"). `refused`,
    /// `legacy-algorithms` and `routeros6` are fixed when the fleet starts;
    /// a `host-key-replaced` added later needs a device that was not started
    /// with `legacy-algorithms`. The `faults` field keeps the starting set.
    pub fn set_faults(&self, faults: Vec<Fault>) {
        *self
            .runtime
            .faults
            .write()
            .unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// The faults in force now.
    pub fn current_faults(&self) -> Vec<Fault> {
        self.runtime
            .faults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Change the device's configuration, as an operator would: each call
    /// adds an address-list entry and toggles a firewall rule, so the next
    /// export hashes differently (and deterministically). Returns the number
    /// of edits so far.
    pub fn edit_config(&self) -> u64 {
        self.runtime.edit_config()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.runtime.connections.load(Ordering::Relaxed)
    }

    /// Channels this device opened towards a client and the client took
    /// (under [`Fault::ChannelFlood`]; a backup client takes none).
    pub fn flood_accepted(&self) -> u64 {
        self.runtime.flood_accepted.load(Ordering::Relaxed)
    }

    /// Whether the device carries a fault of this kind (see [`Fault::name`]).
    pub fn has(&self, name: &str) -> bool {
        self.faults.iter().any(|f| f.name() == name)
    }
}

/// A running fleet. Dropping it stops every device; [`SimFleetHandle::shutdown`]
/// also waits for the listeners to close.
#[derive(Debug)]
pub struct SimFleetHandle {
    devices: Vec<SimDevice>,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl SimFleetHandle {
    pub fn devices(&self) -> &[SimDevice] {
        &self.devices
    }

    pub fn device(&self, id: &str) -> Option<&SimDevice> {
        self.devices.iter().find(|d| d.id == id)
    }

    /// The inventory file for this fleet (see [`inventory_toml`]).
    pub fn inventory_toml(&self) -> String {
        inventory_toml(&self.devices)
    }

    /// Stop every device and wait for the listeners to close. Sessions in
    /// flight are disconnected.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for SimFleetHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The inventory TOML for `devices`, in the daemon's `[[device]]` format.
/// Kept in one function so the format can follow the daemon's.
pub fn inventory_toml(devices: &[SimDevice]) -> String {
    let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let mut out = String::from(
        "# Inventory of a simulated RouterOS fleet (confkeep sim-devices).\n\
         # Simulation passwords are not secrets.\n",
    );
    for d in devices {
        let mut tags = vec![
            q("sim"),
            q(if d.version.starts_with("6.") {
                "v6"
            } else {
                "v7"
            }),
        ];
        for f in &d.faults {
            tags.push(q(&format!("fault-{}", f.name())));
        }
        out.push_str(&format!(
            "\n[[device]]\nid = {}\ntenant = {}\nhost = {}\nport = {}\nuser = {}\npassword = {}\ntags = [{}]\n",
            q(&d.id),
            q(&d.tenant),
            q(&d.addr.ip().to_string()),
            d.addr.port(),
            q(&d.user),
            q(&d.password),
            tags.join(", ")
        ));
        if d.has("legacy-algorithms") {
            // The operator of an old router turns these on for it.
            out.push_str("legacy_algorithms = true\n");
        }
    }
    out
}

/// Start serving `spec`.
pub struct SimFleet;

impl SimFleet {
    /// Bind every device's port and serve until the handle is shut down or
    /// dropped.
    pub async fn start(spec: FleetSpec) -> Result<SimFleetHandle, SimFleetError> {
        let cancel = CancellationToken::new();
        let clock = Arc::new(FleetClock {
            kind: spec.clock,
            ticks: AtomicU64::new(0),
        });
        let mut devices = Vec::with_capacity(spec.devices.len());
        let mut tasks = Vec::new();
        for (index, d) in spec.devices.iter().enumerate() {
            let port = match spec.first_port {
                None => 0,
                Some(first) => u16::try_from(usize::from(first) + index).map_err(|_| {
                    SimFleetError::PortRange {
                        device: d.id.clone(),
                        first_port: first,
                        index,
                    }
                })?,
            };
            let want = SocketAddr::new(spec.host, port);
            let bind = |e| SimFleetError::Bind {
                device: d.id.clone(),
                addr: want,
                source: e,
            };
            let refused = d.has("refused");
            let (listener, addr) = if refused && spec.first_port.is_some() {
                (None, want)
            } else {
                let l = TcpListener::bind(want).await.map_err(bind)?;
                let addr = l.local_addr().map_err(bind)?;
                // A refused device keeps its address but closes the port.
                (if refused { None } else { Some(l) }, addr)
            };
            let runtime = Arc::new(DeviceRuntime::new(&spec, index, d, clock.clone()));
            devices.push(SimDevice {
                id: d.id.clone(),
                tenant: d.tenant.clone(),
                addr,
                user: d.user.clone(),
                password: d.password.clone(),
                version: d.version.as_str().to_owned(),
                host_key_fingerprint: fingerprint(&runtime.key),
                replacement_host_key_fingerprint: runtime.replacement.as_ref().map(fingerprint),
                faults: d.faults.clone(),
                runtime: runtime.clone(),
            });
            if let Some(listener) = listener {
                tasks.push(tokio::spawn(serve_device(
                    listener,
                    runtime,
                    cancel.clone(),
                )));
            }
        }
        Ok(SimFleetHandle {
            devices,
            cancel,
            tasks,
        })
    }
}

fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

// === one device ===

/// What a device answers to a command.
enum Answer {
    Export(Sensitive),
    Text(String),
}

#[derive(Debug)]
struct DeviceRuntime {
    id: String,
    user: String,
    password: String,
    authorized_keys: Vec<PublicKey>,
    spec: ExportSpec,
    /// The configuration: generated on first use, replaced by
    /// [`SimDevice::edit_config`].
    export: std::sync::RwLock<Option<Arc<GeneratedExport>>>,
    /// Configuration edits made so far.
    revision: AtomicU64,
    seed: u64,
    key: PrivateKey,
    replacement: Option<PrivateKey>,
    config: Arc<russh::server::Config>,
    replacement_config: Option<Arc<russh::server::Config>>,
    /// The faults in force (changed at run time by [`SimDevice::set_faults`]).
    faults: std::sync::RwLock<Vec<Fault>>,
    connections: AtomicU64,
    /// Channels this device opened towards a client that the client took.
    flood_accepted: AtomicU64,
    clock: Arc<FleetClock>,
}

/// The fleet's clock (see [`SimClock`]).
#[derive(Debug)]
struct FleetClock {
    kind: SimClock,
    ticks: AtomicU64,
}

impl FleetClock {
    fn now_millis(&self) -> u64 {
        match self.kind {
            SimClock::System => system_millis(),
            SimClock::Stepped {
                start_millis,
                step_millis,
            } => {
                let tick = self.ticks.fetch_add(1, Ordering::Relaxed);
                start_millis.saturating_add(tick.saturating_mul(step_millis))
            }
        }
    }
}

impl DeviceRuntime {
    fn new(fleet: &FleetSpec, index: usize, d: &DeviceSpec, clock: Arc<FleetClock>) -> Self {
        let seed = mix(fleet.seed ^ mix(index as u64 + 1));
        let legacy = d.has("legacy-algorithms");
        let host_key = |seed: u64| {
            if legacy {
                rsa_from(seed)
            } else {
                ed25519_from(seed)
            }
        };
        let key = host_key(seed);
        // Every device can have its hardware replaced at run time; an RSA key
        // costs ~0.1 s, so a legacy device only gets one when it starts so.
        let replacement =
            (!legacy || d.has("host-key-replaced")).then(|| host_key(mix(seed ^ 0x4E5)));
        let preferred = if legacy {
            russh::Preferred {
                kex: std::borrow::Cow::Borrowed(&[russh::kex::DH_G14_SHA1, russh::kex::DH_G1_SHA1]),
                key: std::borrow::Cow::Borrowed(&[russh::keys::Algorithm::Rsa { hash: None }]),
                cipher: std::borrow::Cow::Borrowed(&[
                    russh::cipher::AES_128_CTR,
                    russh::cipher::AES_192_CTR,
                    russh::cipher::AES_256_CTR,
                ]),
                mac: std::borrow::Cow::Borrowed(&[russh::mac::HMAC_SHA1]),
                ..russh::Preferred::DEFAULT
            }
        } else {
            russh::Preferred::DEFAULT
        };
        let methods = if d.authorized_keys.is_empty() {
            MethodSet::from(&[MethodKind::Password][..])
        } else {
            MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..])
        };
        let config_with = |key: &PrivateKey| {
            Arc::new(russh::server::Config {
                server_id: russh::SshId::Standard("SSH-2.0-ROSSSH".into()),
                methods: methods.clone(),
                auth_rejection_time: fleet.auth_rejection_delay,
                auth_rejection_time_initial: Some(Duration::ZERO),
                keys: vec![key.clone()],
                preferred: preferred.clone(),
                inactivity_timeout: Some(Duration::from_secs(600)),
                nodelay: true,
                ..Default::default()
            })
        };
        DeviceRuntime {
            id: d.id.clone(),
            user: d.user.clone(),
            password: d.password.clone(),
            authorized_keys: d.authorized_keys.clone(),
            spec: ExportSpec {
                seed: d.export_seed,
                version: d.version.clone(),
                target_bytes: d.export_bytes,
                line_ending: d.line_ending,
                wrap: d.wrap,
            },
            export: std::sync::RwLock::new(None),
            revision: AtomicU64::new(0),
            seed,
            config: config_with(&key),
            replacement_config: replacement.as_ref().map(config_with),
            key,
            replacement,
            faults: std::sync::RwLock::new(d.faults.clone()),
            connections: AtomicU64::new(0),
            flood_accepted: AtomicU64::new(0),
            clock,
        }
    }

    /// The generated configuration, built on first use (a big fleet only
    /// pays for the devices it is asked about).
    fn export(&self) -> Arc<GeneratedExport> {
        if let Some(export) = self
            .export
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            return export.clone();
        }
        let mut slot = self.export.write().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert_with(|| Arc::new(GeneratedExport::generate(&self.spec)))
            .clone()
    }

    /// One more configuration change (see [`SimDevice::edit_config`]).
    fn edit_config(&self) -> u64 {
        let current = self.export();
        let mut slot = self.export.write().unwrap_or_else(|e| e.into_inner());
        let base = slot.clone().unwrap_or(current);
        let revision = self.revision.fetch_add(1, Ordering::Relaxed) + 1;
        *slot = Some(Arc::new(base.edited(revision)));
        revision
    }

    fn fault<T>(&self, pick: impl Fn(&Fault) -> Option<T>) -> Option<T> {
        self.faults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find_map(pick)
    }

    /// Whether a password is the device's: under `WrongPassword` the device's
    /// real password is another one than the inventory's.
    fn drops_at(&self, stage: DropStage) -> bool {
        self.fault(|f| (*f == Fault::DisconnectAt { stage }).then_some(()))
            .is_some()
    }

    fn password_ok(&self, password: &str) -> bool {
        match self.fault(|f| (*f == Fault::WrongPassword).then_some(())) {
            Some(()) => password == format!("{}-rotated", self.password),
            None => password == self.password,
        }
    }

    fn config_for(&self, connection: u64) -> Arc<russh::server::Config> {
        let after = self.fault(|f| match f {
            Fault::HostKeyReplaced { after } => Some(*after),
            _ => None,
        });
        match (&self.replacement_config, after) {
            (Some(config), Some(after)) if connection >= after => config.clone(),
            _ => self.config.clone(),
        }
    }

    fn flaky_drops(&self, connection: u64) -> bool {
        let Some(ratio) = self.fault(|f| match f {
            Fault::Flaky { ratio } => Some(*ratio),
            _ => None,
        }) else {
            return false;
        };
        let draw = mix(self.seed ^ mix(connection ^ 0xF1A4)) >> 11;
        (draw as f64 / (1u64 << 53) as f64) < ratio
    }

    /// How the device answers `command`, as RouterOS's console would.
    fn answer(&self, command: &str) -> Answer {
        let v6 = self.spec.version.major() == 6;
        let words: Vec<(usize, &str)> = words_with_columns(command);
        let Some(&(_, first)) = words.first() else {
            return Answer::Text(String::new());
        };
        let path = first.trim_start_matches('/');
        match path {
            "export" => {
                let mut sensitive = if v6 { Sensitive::Show } else { Sensitive::Hide };
                for &(column, word) in &words[1..] {
                    match word {
                        "show-sensitive" if !v6 => sensitive = Sensitive::Show,
                        "hide-sensitive" => sensitive = Sensitive::Hide,
                        _ => {
                            return Answer::Text(format!(
                                "expected end of command (line 1 column {column})"
                            ));
                        }
                    }
                }
                Answer::Export(sensitive)
            }
            "system" if words.len() == 3 && words[1].1 == "identity" && words[2].1 == "print" => {
                Answer::Text(format!("  name: {}", self.export().identity()))
            }
            _ => Answer::Text(format!(
                "bad command name {path} (line 1 column {})",
                words[0].0 + usize::from(first.starts_with('/'))
            )),
        }
    }
}

/// The words of a command line with their 1-based columns.
fn words_with_columns(command: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in command.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s + 1, &command[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s + 1, &command[s..]));
    }
    out
}

/// A 2048-bit RSA host key from a seed (about 0.1 s, only for legacy devices).
fn rsa_from(seed: u64) -> PrivateKey {
    let mut rng = CryptoChaCha(ChaCha8Rng::seed_from_u64(seed));
    match russh::keys::ssh_key::private::RsaKeypair::random(&mut rng, 2048) {
        Ok(pair) => PrivateKey::from(pair),
        // Not reachable with a working RNG; an ed25519 key keeps the device
        // serving rather than taking the fleet down.
        Err(_) => ed25519_from(seed),
    }
}

/// ChaCha8 behind the `rand_core` 0.10 traits that `ssh-key` asks for.
struct CryptoChaCha(ChaCha8Rng);

impl russh::keys::ssh_key::rand_core::TryRng for CryptoChaCha {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(rand::RngCore::next_u32(&mut self.0))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(rand::RngCore::next_u64(&mut self.0))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        rand::RngCore::fill_bytes(&mut self.0, dst);
        Ok(())
    }
}

impl russh::keys::ssh_key::rand_core::TryCryptoRng for CryptoChaCha {}

fn ed25519_from(seed: u64) -> PrivateKey {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes);
    PrivateKey::from(Ed25519Keypair::from_seed(&bytes))
}

async fn serve_device(
    listener: TcpListener,
    device: Arc<DeviceRuntime>,
    cancel: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        let socket = match accepted {
            Ok((socket, _)) => socket,
            Err(e) => {
                // Out of file descriptors and the like: keep serving.
                tracing::debug!(device = %device.id, error = %e, "sim device accept failed");
                continue;
            }
        };
        let connection = device.connections.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(serve_connection(
            socket,
            device.clone(),
            connection,
            cancel.clone(),
        ));
    }
}

async fn serve_connection(
    socket: TcpStream,
    device: Arc<DeviceRuntime>,
    connection: u64,
    cancel: CancellationToken,
) {
    let _ = socket.set_nodelay(true);
    if device.flaky_drops(connection) {
        // A reset, as a flaky link or an overloaded router gives.
        let _ = socket.set_zero_linger();
        return;
    }
    if let Some(how) = device.fault(|f| match f {
        Fault::SilentAfterAccept => Some(Raw::Silence),
        Fault::EndlessBanner => Some(Raw::EndlessBanner),
        Fault::StalledKex => Some(Raw::KexInitThenSilence),
        Fault::DisconnectAt {
            stage: DropStage::Banner,
        } => Some(Raw::BannerThenClose),
        Fault::DisconnectAt {
            stage: DropStage::Kex,
        } => Some(Raw::KexInitThenClose),
        _ => None,
    }) {
        misbehave(socket, how, cancel).await;
        return;
    }
    // A second handle on the socket, to drop the connection from under
    // russh (which owns the stream) when the device's fault says so.
    let killer = socket
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .map(std::net::TcpStream::from);
    let session_cancel = cancel.child_token();
    let handler = DeviceSession {
        device: device.clone(),
        connection,
        cancel: session_cancel.clone(),
        channels: HashMap::new(),
    };
    let config = device.config_for(connection);
    match russh::server::run_stream(config, socket, handler).await {
        Ok(session) => {
            let handle = session.handle();
            tokio::select! {
                r = session => {
                    if let Err(e) = r {
                        tracing::debug!(device = %device.id, error = %e, "sim device session ended");
                    }
                }
                _ = cancel.cancelled() => {
                    let _ = handle
                        .disconnect(russh::Disconnect::ByApplication, "shutting down".into(), "en".into())
                        .await;
                }
                // The device itself drops the connection (no SSH goodbye).
                _ = session_cancel.cancelled() => {
                    if let Some(k) = &killer {
                        let _ = k.shutdown(std::net::Shutdown::Both);
                    }
                }
            }
        }
        Err(e) => tracing::debug!(device = %device.id, error = %e, "sim device handshake failed"),
    }
    session_cancel.cancel();
}

/// One SSH connection to a device.
struct DeviceSession {
    device: Arc<DeviceRuntime>,
    connection: u64,
    cancel: CancellationToken,
    channels: HashMap<ChannelId, ChannelWriteHalf<Msg>>,
}

impl DeviceSession {
    fn reject(&self) -> Auth {
        Auth::Reject {
            proceed_with_methods: Some(self.device.config.methods.clone()),
            partial_success: false,
        }
    }

    fn key_allowed(&self, user: &str, key: &PublicKey) -> bool {
        user == self.device.user
            && self
                .device
                .authorized_keys
                .iter()
                .any(|k| k.key_data() == key.key_data())
    }
}

impl russh::server::Handler for DeviceSession {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(self.reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if self.device.drops_at(DropStage::Auth) {
            // No answer: the connection goes (serve_connection drops the
            // session, and this future with it).
            self.cancel.cancel();
            std::future::pending::<()>().await;
        }
        if user == self.device.user && self.device.password_ok(password) {
            Ok(Auth::Accept)
        } else {
            Ok(self.reject())
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.key_allowed(user, offer.public_key) {
            Ok(Auth::Accept)
        } else {
            Ok(self.reject())
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.key_allowed(user, key.public_key) {
            Ok(Auth::Accept)
        } else {
            Ok(self.reject())
        }
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        _user: &str,
        _submethods: &str,
        _response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.reject())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The read half is dropped: a device ignores stdin, and russh
        // ignores sends to a dropped reader instead of blocking on it.
        let (_read, write) = channel.split();
        self.channels.insert(write.id(), write);
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The simulation serves exec only (what a backup uses).
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(write) = self.channels.remove(&channel) else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        if self.device.drops_at(DropStage::Exec) {
            self.cancel.cancel();
            std::future::pending::<()>().await;
        }
        session.channel_success(channel)?;
        let command = String::from_utf8_lossy(data).into_owned();
        let device = self.device.clone();
        let connection = self.connection;
        let cancel = self.cancel.clone();
        let handle = session.handle();
        tokio::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                r = async {
                    flood_channels(&device, &handle).await;
                    run_exec(&device, connection, &command, &write).await
                } => {
                    if let Err(e) = r {
                        tracing::debug!(device = %device.id, error = %e, "sim device exec ended early");
                    }
                    if device.drops_at(DropStage::Output) {
                        cancel.cancel();
                    }
                }
            }
        });
        Ok(())
    }
}

/// Under [`Fault::ChannelFlood`], open that many channels towards the
/// client, of every kind a server may open, one after the other (each
/// waits for the client's answer).
async fn flood_channels(device: &DeviceRuntime, handle: &russh::server::Handle) {
    let Some(count) = device.fault(|f| match f {
        Fault::ChannelFlood { count } => Some(*count),
        _ => None,
    }) else {
        return;
    };
    let mut accepted = 0u32;
    for i in 0..count {
        let opened = match i % 4 {
            0 => handle.channel_open_session().await,
            1 => {
                handle
                    .channel_open_forwarded_tcpip("127.0.0.1", 8080, "192.0.2.66", i)
                    .await
            }
            2 => handle.channel_open_x11("192.0.2.66", i).await,
            _ => handle.channel_open_agent().await,
        };
        match opened {
            Ok(_) => accepted += 1,
            Err(russh::Error::ChannelOpenFailure(_)) => {}
            Err(_) => break, // the client went away
        }
    }
    device
        .flood_accepted
        .fetch_add(u64::from(accepted), Ordering::Relaxed);
}

/// The real clock of the simulation: export headers carry the time a device
/// printed them, like a router's.
#[allow(clippy::disallowed_methods)] // the one clock of the simulated devices
fn system_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Writes output under the device's faults: trickles it when slow, stops for
/// good after a cut-off when silent mid-output.
struct Delivery<'a> {
    write: &'a ChannelWriteHalf<Msg>,
    sent: u64,
    stall_at: Option<u64>,
    slow: Option<u64>,
}

impl Delivery<'_> {
    async fn send(&mut self, data: impl Into<Bytes>) -> Result<(), russh::Error> {
        let mut data: Bytes = data.into();
        while !data.is_empty() {
            let mut take = data.len().min(CHUNK);
            if let Some(rate) = self.slow {
                // Ten writes a second, or one byte at a time below 10 B/s.
                take = take.min((rate / 10).max(1) as usize);
            }
            if let Some(stall) = self.stall_at {
                let left = stall.saturating_sub(self.sent) as usize;
                if left == 0 {
                    // Silent from here on; the connection's cancellation
                    // (client gone, fleet shut down) ends this task.
                    std::future::pending::<()>().await;
                }
                take = take.min(left);
            }
            self.write.data_bytes(data.split_to(take)).await?;
            self.sent += take as u64;
            if let Some(rate) = self.slow {
                let pause = if rate >= 10 { 100 } else { 1000 / rate.max(1) };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
        Ok(())
    }
}

async fn run_exec(
    device: &DeviceRuntime,
    connection: u64,
    command: &str,
    write: &ChannelWriteHalf<Msg>,
) -> Result<(), russh::Error> {
    let mut out = Delivery {
        write,
        sent: 0,
        stall_at: device.fault(|f| match f {
            Fault::SilentMidOutput { after_bytes } => Some(*after_bytes),
            _ => None,
        }),
        slow: device.fault(|f| match f {
            Fault::SlowOutput { bytes_per_sec } => Some(*bytes_per_sec),
            _ => None,
        }),
    };
    let garbage = device.fault(|f| match f {
        Fault::Garbage { bytes } => Some(*bytes),
        _ => None,
    });
    let nl = match device.spec.line_ending {
        LineEnding::Lf => "\n",
        LineEnding::CrLf => "\r\n",
    };
    if let Some(bytes) = garbage {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(device.seed ^ mix(connection)));
        let mut left = bytes;
        let mut buf = vec![0u8; CHUNK];
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            rng.fill(&mut buf[..n]);
            // Binary, and never accidentally a valid export.
            buf[0] = 0;
            out.send(Bytes::copy_from_slice(&buf[..n])).await?;
            left -= n as u64;
        }
    } else {
        match device.answer(command) {
            Answer::Text(text) => {
                out.send(format!("{text}{nl}")).await?;
            }
            Answer::Export(sensitive) => {
                let text = device.export().render(device.clock.now_millis(), sensitive);
                if device.drops_at(DropStage::Output) {
                    // Half the export, then the connection drops.
                    let half = text.len() / 2;
                    out.send(Bytes::copy_from_slice(&text.as_bytes()[..half]))
                        .await?;
                    return Ok(());
                }
                if let Some(bytes) = device.fault(|f| match f {
                    Fault::HugeLine { bytes } => Some(*bytes),
                    _ => None,
                }) {
                    send_huge_line(&mut out, &text, bytes).await?;
                    write.exit_status(0).await?;
                    write.eof().await?;
                    return write.close().await;
                }
                let sent = text.len() as u64;
                out.send(text).await?;
                let oversized = device.fault(|f| match f {
                    Fault::Oversized { bytes } => Some(*bytes),
                    _ => None,
                });
                if let Some(total) = oversized {
                    let mut bulk = BulkLines::new(device.seed, device.spec.line_ending);
                    let mut sent = sent;
                    let mut buf = bulk.header();
                    while sent < total {
                        let want = (total - sent).min(CHUNK as u64) as usize;
                        let need = want.saturating_sub(buf.len());
                        bulk.fill(&mut buf, need);
                        sent += buf.len() as u64;
                        out.send(std::mem::take(&mut buf)).await?;
                    }
                }
            }
        }
    }
    if device
        .fault(|f| (*f == Fault::CloseBeforeExitStatus).then_some(()))
        .is_none()
    {
        write.exit_status(0).await?;
    }
    write.eof().await?;
    write.close().await?;
    Ok(())
}

/// The export's header, then one line of `bytes` bytes with no end.
async fn send_huge_line(
    out: &mut Delivery<'_>,
    export: &str,
    bytes: u64,
) -> Result<(), russh::Error> {
    let header = export.lines().next().unwrap_or_default();
    out.send(format!("{header}\n/system note\nset note=\""))
        .await?;
    let chunk = Bytes::from(vec![b'A'; CHUNK]);
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        out.send(chunk.slice(..n)).await?;
        left -= n as u64;
    }
    Ok(())
}

// === helpers ===

/// SplitMix64 finalizer.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn alnum(rng: &mut ChaCha8Rng, n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_clock() -> Arc<FleetClock> {
        Arc::new(FleetClock {
            kind: SimClock::System,
            ticks: AtomicU64::new(0),
        })
    }

    #[test]
    fn fault_specs_parse_with_defaults_and_params() {
        let map = parse_fault_spec(
            "wrong-password=1,3; host-key-replaced:2=5;silence=7;flaky:0.5=8-10;oversized:1MiB=2;slow=4",
            10,
        )
        .unwrap();
        assert_eq!(map[&0], vec![Fault::WrongPassword]);
        assert_eq!(map[&2], vec![Fault::WrongPassword]);
        assert_eq!(map[&4], vec![Fault::HostKeyReplaced { after: 2 }]);
        assert_eq!(map[&6], vec![Fault::SilentAfterAccept]);
        assert_eq!(map[&7], vec![Fault::Flaky { ratio: 0.5 }]);
        assert_eq!(map[&9], vec![Fault::Flaky { ratio: 0.5 }]);
        assert_eq!(map[&1], vec![Fault::Oversized { bytes: 1 << 20 }]);
        assert_eq!(
            map[&3],
            vec![Fault::SlowOutput {
                bytes_per_sec: 1024
            }]
        );
        assert!(!map.contains_key(&5));
        let all = parse_fault_spec("v6=all;garbage:64K=sim-0002;legacy=3", 3).unwrap();
        assert_eq!(all[&2], vec![Fault::RouterOs6, Fault::LegacyAlgorithms]);
        assert_eq!(all.len(), 3);
        assert_eq!(
            all[&1],
            vec![Fault::RouterOs6, Fault::Garbage { bytes: 65536 }]
        );
    }

    #[test]
    fn bad_fault_specs_name_the_token() {
        let e = parse_fault_spec("wrong-password=1;bogus=2", 5).unwrap_err();
        assert!(e.to_string().contains("\"bogus=2\""), "{e}");
        assert!(e.to_string().contains("unknown fault \"bogus\""), "{e}");
        let e = parse_fault_spec("wrong-password=0", 5).unwrap_err();
        assert!(e.to_string().contains("device \"0\""), "{e}");
        let e = parse_fault_spec("flaky:2=1", 5).unwrap_err();
        assert!(e.to_string().contains("\"flaky:2=1\""), "{e}");
        let e = parse_fault_spec("silence", 5).unwrap_err();
        assert!(e.to_string().contains("KIND[:PARAM]=DEVICES"), "{e}");
        let e = parse_fault_spec("garbage:lots=1", 5).unwrap_err();
        assert!(e.to_string().contains("\"lots\""), "{e}");
        let e = parse_fault_spec("refused:3=1", 5).unwrap_err();
        assert!(e.to_string().contains("takes no parameter"), "{e}");
        let e = parse_fault_spec("slow=6", 5).unwrap_err();
        assert!(e.to_string().contains("1..=5"), "{e}");
    }

    #[test]
    fn commands_are_answered_like_routeros() {
        let mut spec = FleetSpec::generated(2, 1);
        spec.add_fault(1, Fault::RouterOs6);
        let v7 = DeviceRuntime::new(&spec, 0, &spec.devices[0], test_clock());
        let v6 = DeviceRuntime::new(&spec, 1, &spec.devices[1], test_clock());
        assert!(matches!(
            v7.answer("/export show-sensitive"),
            Answer::Export(Sensitive::Show)
        ));
        assert!(matches!(
            v7.answer("/export"),
            Answer::Export(Sensitive::Hide)
        ));
        assert!(matches!(
            v6.answer("/export"),
            Answer::Export(Sensitive::Show)
        ));
        assert!(matches!(
            v6.answer("export hide-sensitive"),
            Answer::Export(Sensitive::Hide)
        ));
        let Answer::Text(t) = v6.answer("/export show-sensitive") else {
            panic!("v6 must refuse show-sensitive");
        };
        assert_eq!(t, "expected end of command (line 1 column 9)");
        let Answer::Text(t) = v7.answer("/frobnicate now") else {
            panic!("unknown command");
        };
        assert_eq!(t, "bad command name frobnicate (line 1 column 2)");
    }

    #[test]
    fn flaky_is_deterministic_and_near_its_ratio() {
        let mut spec = FleetSpec::generated(1, 9);
        spec.add_fault(0, Fault::Flaky { ratio: 0.3 });
        let a = DeviceRuntime::new(&spec, 0, &spec.devices[0], test_clock());
        let b = DeviceRuntime::new(&spec, 0, &spec.devices[0], test_clock());
        let drops: Vec<bool> = (0..1000).map(|c| a.flaky_drops(c)).collect();
        assert_eq!(
            drops,
            (0..1000).map(|c| b.flaky_drops(c)).collect::<Vec<_>>()
        );
        let n = drops.iter().filter(|d| **d).count();
        assert!((230..370).contains(&n), "{n} of 1000 dropped");
    }

    #[test]
    fn host_keys_are_deterministic_per_seed_and_device() {
        let spec = FleetSpec::generated(2, 4);
        let a = DeviceRuntime::new(&spec, 0, &spec.devices[0], test_clock());
        let b = DeviceRuntime::new(&spec, 0, &spec.devices[0], test_clock());
        let c = DeviceRuntime::new(&spec, 1, &spec.devices[1], test_clock());
        assert_eq!(fingerprint(&a.key), fingerprint(&b.key));
        assert_ne!(fingerprint(&a.key), fingerprint(&c.key));
        assert!(fingerprint(&a.key).starts_with("SHA256:"));
        assert!(!fingerprint(&a.key).ends_with('='));
    }
}
