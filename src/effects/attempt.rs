//! One backup attempt, end to end: gate → lock → SSH → normalize → hash →
//! publish → outcome.
//!
//! Every failure becomes an [`Outcome::Failed`] with its kind and a message
//! that names what went wrong without any secret or config text. The
//! outcome is what the runner records as `AttemptFinished`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;

use crate::domain::machine::major_version;
use crate::domain::{
    AttemptRequest, AttemptStage, DeviceId, FailureKind, Learned, Outcome, SkipReason, StoredApart,
};
use crate::effects::credentials::{Login, Secret, Vault};
use crate::effects::gate::{Gate, GateDecision};
use crate::effects::inventory::postgres::PgInventory;
use crate::effects::inventory::{Inventory, InventoryDevice, LoginSource};
use crate::effects::runner::{AttemptExecutor, Clock, HostKeyChange};
use crate::effects::snapshot::{Published, Snapshot, SnapshotSink};
use crate::effects::ssh::{CollectFailure, CollectRequest, Collector};

/// SSH settings for every attempt.
#[derive(Debug, Clone)]
pub struct SshSettings {
    pub output_cap: usize,
    pub legacy_algorithms: bool,
}

/// The production attempt executor.
pub struct SshAttempts {
    inventory: Arc<RwLock<Inventory>>,
    gate: Gate,
    sink: SnapshotSink,
    settings: SshSettings,
    clock: Arc<dyn Clock>,
    collector: Collector,
    vault: Vault,
    /// Where trusted host keys are written back (a PostgreSQL inventory).
    host_keys: Option<PgInventory>,
}

impl SshAttempts {
    pub fn new(
        inventory: Arc<RwLock<Inventory>>,
        gate: Gate,
        sink: SnapshotSink,
        settings: SshSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        SshAttempts {
            inventory,
            gate,
            sink,
            settings,
            clock,
            collector: Collector::new(),
            vault: Vault::default(),
            host_keys: None,
        }
    }

    /// Write the machine's host-key decisions to this inventory.
    pub fn with_host_key_store(mut self, inventory: PgInventory) -> Self {
        self.host_keys = Some(inventory);
        self
    }

    /// With what opens the PostgreSQL inventory's sealed logins.
    pub fn with_vault(mut self, vault: Vault) -> Self {
        self.vault = vault;
        self
    }
}

/// The device's login, opened for this attempt only; the error names the
/// inventory field or column that failed (never a secret).
async fn open_login(device: &InventoryDevice, vault: &Vault) -> Result<Login, String> {
    match &device.login {
        LoginSource::File { user, password } => password
            .resolve()
            .map(|p| Login {
                user: user.clone(),
                secret: Secret::Password(p),
            })
            .map_err(|e| format!("credentials of {}: {e}", device.id)),
        LoginSource::Sealed(sealed) => vault
            .open(sealed)
            .await
            .map_err(|e| format!("credentials of {}: {e}", device.id)),
    }
}

/// The collection for `job` with this login (a key login decoded here).
fn collect_request(
    job: &AttemptRequest,
    device: &InventoryDevice,
    login: Login,
    settings: &SshSettings,
) -> Result<CollectRequest, String> {
    let legacy = settings.legacy_algorithms || device.legacy_algorithms;
    Ok(match login.secret {
        Secret::Password(p) => {
            CollectRequest::for_attempt(job, login.user, p, settings.output_cap, legacy)
        }
        Secret::PrivateKey(text) => {
            let key = russh::keys::decode_secret_key(&text, None).map_err(|e| {
                format!(
                    "credentials of {}: the private key does not decode: {e}",
                    job.device
                )
            })?;
            CollectRequest {
                password: None,
                private_key: Some(Arc::new(key)),
                ..CollectRequest::for_attempt(job, login.user, "", settings.output_cap, legacy)
            }
        }
    })
}

fn failed(kind: FailureKind, message: impl Into<String>) -> Outcome {
    learned_then_failed(kind, message, Learned::default())
}

fn learned_then_failed(kind: FailureKind, message: impl Into<String>, learned: Learned) -> Outcome {
    Outcome::Failed {
        kind,
        message: message.into(),
        learned,
    }
}

/// What the collector learned before it failed, for the outcome.
fn learned(failure: &CollectFailure) -> Learned {
    Learned {
        routeros_major: failure.routeros_major,
        host_key: failure.host_key.clone(),
        stage: Some(failure.stage),
    }
}

impl AttemptExecutor for SshAttempts {
    fn host_key(&self, device: &DeviceId, change: HostKeyChange) {
        let Some(store) = self.host_keys.clone() else {
            return;
        };
        let device = device.clone();
        tokio::spawn(async move {
            let written = match &change {
                HostKeyChange::Trusted {
                    fingerprint,
                    verified,
                } => store.trust_host_key(&device, fingerprint, *verified).await,
                HostKeyChange::Verified { fingerprint } => {
                    store.host_key_verified(&device, fingerprint).await
                }
                HostKeyChange::Forgotten => store.forget_host_key(&device).await,
            };
            match written {
                Ok(1) => {}
                Ok(rows) => {
                    tracing::warn!(device = %device, rows, change = ?change, "host key write-back matched no single inventory row")
                }
                Err(e) => {
                    tracing::warn!(device = %device, error = %e, change = ?change, "host key write-back failed (a later verified backup writes it)")
                }
            }
        });
    }

    fn execute(&self, job: AttemptRequest) -> BoxFuture<'static, Outcome> {
        let device = self
            .inventory
            .read()
            .ok()
            .and_then(|inv| inv.devices.get(&job.device).cloned());
        let gate = self.gate.clone();
        let sink = self.sink.clone();
        let settings = self.settings.clone();
        let clock = self.clock.clone();
        let collector = self.collector.clone();
        let vault = self.vault.clone();
        Box::pin(async move {
            let Some(device) = device else {
                return failed(
                    FailureKind::Other,
                    format!("device {} is not in the inventory any more", job.device),
                );
            };
            if let Some(problem) = &device.problem {
                return failed(
                    FailureKind::Other,
                    format!("inventory row of {}: {problem}", job.device),
                );
            }
            let login = match open_login(&device, &vault).await {
                Ok(l) => l,
                Err(e) => return failed(FailureKind::Other, e),
            };
            let request = match collect_request(&job, &device, login, &settings) {
                Ok(r) => r,
                Err(e) => return failed(FailureKind::Other, e),
            };
            let started = clock.now();
            let token = format!("{}/{}/{}", job.device, job.attempt, started.as_millis());
            let lock_ttl = Duration::from_secs(job.timeout_secs.saturating_add(30));
            let lock = match gate.enter(&job.device, &token, lock_ttl).await {
                GateDecision::Offline => {
                    return Outcome::Skipped {
                        reason: SkipReason::Offline,
                    };
                }
                GateDecision::LockHeld => {
                    return Outcome::Skipped {
                        reason: SkipReason::LockHeld,
                    };
                }
                GateDecision::Proceed(lock) => lock,
            };
            let result = collector.collect(&request).await;
            let outcome = match result {
                Err(failure) => {
                    let learned = learned(&failure);
                    learned_then_failed(failure.kind, failure.message, learned)
                }
                Ok(collected) => {
                    let snapshot = Snapshot {
                        tenant: &job.tenant,
                        device: &job.device,
                        sha256: &collected.sha256,
                        normalized: &collected.normalized,
                        routeros_version: Some(&collected.routeros_version),
                        collected_at: clock.now(),
                        host_key: &collected.host_key,
                        attempt: job.attempt,
                    };
                    match sink.publish(&snapshot).await {
                        Ok(published) => Outcome::Collected {
                            sha256: collected.sha256.clone(),
                            bytes: collected.normalized.len() as u64,
                            host_key: collected.host_key.clone(),
                            duration_ms: clock.now().millis_since(started),
                            routeros_version: Some(collected.routeros_version.clone()),
                            stored_apart: stored_apart(&job.device, published),
                        },
                        Err(e) => learned_then_failed(
                            FailureKind::PublishFailed,
                            e.to_string(),
                            Learned {
                                routeros_major: major_version(&collected.routeros_version),
                                host_key: Some(collected.host_key.clone()),
                                stage: Some(AttemptStage::Publish),
                            },
                        ),
                    }
                }
            };
            if let Some(lock) = lock {
                gate.release(lock).await;
            }
            outcome
        })
    }
}

/// What the device's history records of a config published apart, said in
/// the log too (by how much, and where it went).
fn stored_apart(device: &DeviceId, published: Published) -> Option<StoredApart> {
    let Published::Apart(_, apart) = published else {
        return None;
    };
    tracing::warn!(
        %device,
        message_bytes = apart.message_bytes,
        max_payload = apart.max_payload,
        over_by = apart.over_by(),
        object = %apart.object,
        "the config is too large for one snapshot message: stored in the object store, the event names it"
    );
    Some(apart)
}
