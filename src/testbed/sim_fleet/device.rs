//! One simulated device: its state (configuration, faults in force,
//! connection count, host keys and server configs), how it answers a
//! command as RouterOS's console would, and the fleet's clock.
//!
//! Shared by the public handle ([`super::SimDevice`]) and the server tasks,
//! hence behind an `Arc` with interior mutability for the run-time changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{PrivateKey, PublicKey};
use russh::{MethodKind, MethodSet};

use super::{DeviceSpec, DropStage, Fault, FleetSpec, SimClock, mix};
use crate::testbed::routeros_gen::{ExportSpec, GeneratedExport, Sensitive};

/// What a device answers to a command.
pub(super) enum Answer {
    Export(Sensitive),
    Text(String),
}

#[derive(Debug)]
pub(super) struct DeviceRuntime {
    pub(super) id: String,
    pub(super) user: String,
    password: String,
    pub(super) authorized_keys: Vec<PublicKey>,
    pub(super) spec: ExportSpec,
    /// The configuration: generated on first use, replaced by
    /// [`super::SimDevice::edit_config`].
    export: std::sync::RwLock<Option<Arc<GeneratedExport>>>,
    /// Configuration edits made so far.
    revision: AtomicU64,
    pub(super) seed: u64,
    pub(super) key: PrivateKey,
    pub(super) replacement: Option<PrivateKey>,
    pub(super) config: Arc<russh::server::Config>,
    replacement_config: Option<Arc<russh::server::Config>>,
    /// The faults in force (changed at run time by [`super::SimDevice::set_faults`]).
    pub(super) faults: std::sync::RwLock<Vec<Fault>>,
    pub(super) connections: AtomicU64,
    /// Channels this device opened towards a client that the client took.
    pub(super) flood_accepted: AtomicU64,
    pub(super) clock: Arc<FleetClock>,
}

/// The fleet's clock (see [`SimClock`]).
#[derive(Debug)]
pub(super) struct FleetClock {
    pub(super) kind: SimClock,
    pub(super) ticks: AtomicU64,
}

impl FleetClock {
    pub(super) fn now_millis(&self) -> u64 {
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
    pub(super) fn new(
        fleet: &FleetSpec,
        index: usize,
        d: &DeviceSpec,
        clock: Arc<FleetClock>,
    ) -> Self {
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
    pub(super) fn export(&self) -> Arc<GeneratedExport> {
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

    /// One more configuration change (see [`super::SimDevice::edit_config`]).
    pub(super) fn edit_config(&self) -> u64 {
        let current = self.export();
        let mut slot = self.export.write().unwrap_or_else(|e| e.into_inner());
        let base = slot.clone().unwrap_or(current);
        let revision = self.revision.fetch_add(1, Ordering::Relaxed) + 1;
        *slot = Some(Arc::new(base.edited(revision)));
        revision
    }

    pub(super) fn fault<T>(&self, pick: impl Fn(&Fault) -> Option<T>) -> Option<T> {
        self.faults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find_map(pick)
    }

    /// Whether the device drops the connection at `stage`.
    pub(super) fn drops_at(&self, stage: DropStage) -> bool {
        self.fault(|f| (*f == Fault::DisconnectAt { stage }).then_some(()))
            .is_some()
    }

    /// Whether a password is the device's: under `WrongPassword` the device's
    /// real password is another one than the inventory's.
    pub(super) fn password_ok(&self, password: &str) -> bool {
        match self.fault(|f| (*f == Fault::WrongPassword).then_some(())) {
            Some(()) => password == format!("{}-rotated", self.password),
            None => password == self.password,
        }
    }

    pub(super) fn config_for(&self, connection: u64) -> Arc<russh::server::Config> {
        let after = self.fault(|f| match f {
            Fault::HostKeyReplaced { after } => Some(*after),
            _ => None,
        });
        match (&self.replacement_config, after) {
            (Some(config), Some(after)) if connection >= after => config.clone(),
            _ => self.config.clone(),
        }
    }

    pub(super) fn flaky_drops(&self, connection: u64) -> bool {
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
    pub(super) fn answer(&self, command: &str) -> Answer {
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

/// The real clock of the simulation: export headers carry the time a device
/// printed them, like a router's.
#[allow(clippy::disallowed_methods)] // the one clock of the simulated devices
fn system_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
