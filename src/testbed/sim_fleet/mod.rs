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
//!
//! The files of this module: this one holds the public API (the specs, the
//! running fleet and its devices, the inventory file); `faults` the fault
//! vocabulary and its spec parser; `device` one device's state, answers and
//! host keys; `server` the SSH server side (accept, authenticate, exec);
//! `exec` what a device prints for a command under its faults.

mod device;
mod exec;
mod faults;
mod server;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use russh::keys::{HashAlg, PrivateKey, PublicKey};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::routeros_gen::{LineEnding, RouterOsVersion, Sensitive, V6_VERSIONS, V7_VERSIONS};
use device::{Answer, DeviceRuntime, FleetClock};
pub use faults::{DropStage, Fault, FaultSpecError, parse_fault_spec};
use server::serve_device;

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
