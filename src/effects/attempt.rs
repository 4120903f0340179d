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
use crate::domain::{AttemptRequest, AttemptStage, FailureKind, Learned, Outcome, SkipReason};
use crate::effects::gate::{Gate, GateDecision};
use crate::effects::inventory::Inventory;
use crate::effects::runner::{AttemptExecutor, Clock};
use crate::effects::snapshot::{Snapshot, SnapshotSink};
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
        }
    }
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
        Box::pin(async move {
            let Some(device) = device else {
                return failed(
                    FailureKind::Other,
                    format!("device {} is not in the inventory any more", job.device),
                );
            };
            let password = match device.password.resolve() {
                Ok(p) => p,
                Err(e) => {
                    return failed(
                        FailureKind::Other,
                        format!("credentials of {}: {e}", job.device),
                    );
                }
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
            let request = CollectRequest::for_attempt(
                &job,
                device.user.clone(),
                password,
                settings.output_cap,
                settings.legacy_algorithms || device.legacy_algorithms,
            );
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
                    };
                    match sink.publish(&snapshot).await {
                        Ok(_) => Outcome::Collected {
                            sha256: collected.sha256.clone(),
                            bytes: collected.normalized.len() as u64,
                            host_key: collected.host_key.clone(),
                            duration_ms: clock.now().millis_since(started),
                            routeros_version: Some(collected.routeros_version.clone()),
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
