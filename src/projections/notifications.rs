//! What the operator is told: a fold of the log into notifications, each
//! fired once per transition.
//!
//! - `config.changed`: a collection whose hash differs from the device's
//!   previous one (the first backup is no change);
//! - `device.blocked`: the device entered `AuthBlocked` or `HostKeyBlocked`;
//! - `device.stale`: no success within two intervals (counted from
//!   enrolment when it never succeeded), seen at a tick of the wall clock;
//! - `device.recovered`: the first success after a blocked or stale
//!   notification.
//!
//! The fold is deterministic over the log, except staleness, which depends
//! on the time of the tick; so the devices with an open alert are part of
//! what a notifier saves with its checkpoint ([`Alerts`]), and a restart
//! neither fires them again nor forgets to recover them. Each notification
//! has an id (`device/seq/kind`, or `device/stale/since` for staleness) a
//! receiver can deduplicate on: delivery is at least once.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::domain::{DeviceId, Envelope, Event, Outcome, PhaseKind, TenantId, Timestamp};

/// One kind of notification, as configured and as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NotificationKind {
    #[serde(rename = "config.changed")]
    ConfigChanged,
    #[serde(rename = "device.blocked")]
    DeviceBlocked,
    #[serde(rename = "device.stale")]
    DeviceStale,
    #[serde(rename = "device.recovered")]
    DeviceRecovered,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 4] = [
        NotificationKind::ConfigChanged,
        NotificationKind::DeviceBlocked,
        NotificationKind::DeviceStale,
        NotificationKind::DeviceRecovered,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NotificationKind::ConfigChanged => "config.changed",
            NotificationKind::DeviceBlocked => "device.blocked",
            NotificationKind::DeviceStale => "device.stale",
            NotificationKind::DeviceRecovered => "device.recovered",
        }
    }
}

/// The facts of one notification (never config text or a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    pub event: NotificationKind,
    pub device: String,
    pub tenant: String,
    /// When it happened (ms since the epoch): the event's time, or the
    /// tick's for staleness.
    pub at: Timestamp,
    /// The device sequence of the event behind it (absent for staleness).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    pub phase: PhaseKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_hash: Option<String>,
    /// Why: the failure that blocked it, or how long it has been stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// How one receiver is doing, as `/v1/status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReceiverStatus {
    pub name: String,
    /// `webhook` or `exec`.
    pub kind: String,
    pub delivered: u64,
    /// Tries that failed (each retried with backoff).
    pub failed_tries: u64,
    /// Notifications waiting for this receiver (0: it is up to date).
    pub pending: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The log position told so far.
    pub checkpoint: u64,
}

/// Devices with an open blocked or stale alert: saved with a notifier's
/// checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alerts {
    pub blocked: BTreeSet<String>,
    pub stale: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct Device {
    tenant: TenantId,
    phase: PhaseKind,
    hash: Option<String>,
    /// Last success, or enrolment when none: where staleness counts from.
    fresh_since: Timestamp,
    interval_ms: u64,
    last_error: Option<String>,
}

/// The notification fold.
#[derive(Debug, Clone, Default)]
pub struct NotificationFold {
    devices: HashMap<DeviceId, Device>,
    alerts: Alerts,
}

impl NotificationFold {
    /// The alerts open now.
    pub fn alerts(&self) -> &Alerts {
        &self.alerts
    }

    /// Take up the alerts a checkpoint saved (after folding up to it).
    pub fn restore(&mut self, alerts: Alerts) {
        self.alerts = alerts;
    }

    /// Fold one envelope; what it means for the operator.
    pub fn apply(&mut self, env: &Envelope) -> Vec<Notification> {
        let entry = self.devices.entry(env.device.clone()).or_insert(Device {
            tenant: env.tenant.clone(),
            phase: PhaseKind::Unenrolled,
            hash: None,
            fresh_since: env.at,
            interval_ms: 0,
            last_error: None,
        });
        let before = entry.phase;
        if let Some(after) = &env.after {
            entry.phase = after.phase;
        }
        let mut out = Vec::new();
        match &env.event {
            Event::Enrolled { policy, .. } => {
                entry.interval_ms = policy.interval_secs.saturating_mul(1000);
                if before == PhaseKind::Unenrolled || before == PhaseKind::Retired {
                    entry.fresh_since = env.at;
                }
            }
            Event::PolicyChanged { policy } => {
                entry.interval_ms = policy.interval_secs.saturating_mul(1000)
            }
            Event::AttemptFinished {
                outcome: Outcome::Collected { sha256, .. },
                ..
            } => {
                let old = entry.hash.replace(sha256.clone());
                entry.fresh_since = env.at;
                if let Some(old) = old.filter(|o| o != sha256) {
                    out.push(self.note(env, NotificationKind::ConfigChanged, Some(old), None));
                }
                let key = env.device.to_string();
                let was_blocked = self.alerts.blocked.remove(&key);
                if self.alerts.stale.remove(&key) | was_blocked {
                    out.push(self.note(env, NotificationKind::DeviceRecovered, None, None));
                }
                return out;
            }
            Event::AttemptFinished {
                outcome: Outcome::Failed { kind, message, .. },
                ..
            } => entry.last_error = Some(format!("{}: {message}", kind.name())),
            _ => {}
        }
        let blocked = matches!(
            entry.phase,
            PhaseKind::AuthBlocked | PhaseKind::HostKeyBlocked
        );
        if blocked && entry.phase != before && self.alerts.blocked.insert(env.device.to_string()) {
            let reason = entry.last_error.clone();
            out.push(self.note(env, NotificationKind::DeviceBlocked, None, reason));
        }
        out
    }

    fn note(
        &self,
        env: &Envelope,
        kind: NotificationKind,
        old_hash: Option<String>,
        reason: Option<String>,
    ) -> Notification {
        let device = self.devices.get(&env.device);
        Notification {
            id: format!("{}/{}/{}", env.device, env.seq, kind.name()),
            event: kind,
            device: env.device.to_string(),
            tenant: env.tenant.to_string(),
            at: env.at,
            seq: Some(env.seq),
            phase: device.map_or(PhaseKind::Unenrolled, |d| d.phase),
            old_hash,
            new_hash: device.and_then(|d| d.hash.clone()),
            reason,
        }
    }

    /// Devices gone stale by `now` that have not been told yet.
    pub fn stale_at(&mut self, now: Timestamp) -> Vec<Notification> {
        let mut out = Vec::new();
        for (id, d) in &self.devices {
            let active = !matches!(d.phase, PhaseKind::Unenrolled | PhaseKind::Retired);
            let late = now.millis_since(d.fresh_since) > d.interval_ms.saturating_mul(2);
            if !active || d.interval_ms == 0 || !late || self.alerts.stale.contains(id.as_str()) {
                continue;
            }
            self.alerts.stale.insert(id.to_string());
            out.push(Notification {
                id: format!("{id}/stale/{}", d.fresh_since.as_millis()),
                event: NotificationKind::DeviceStale,
                device: id.to_string(),
                tenant: d.tenant.to_string(),
                at: now,
                seq: None,
                phase: d.phase,
                old_hash: None,
                new_hash: d.hash.clone(),
                reason: Some(format!(
                    "no backup for {} s (interval {} s)",
                    now.millis_since(d.fresh_since) / 1000,
                    d.interval_ms / 1000
                )),
            });
        }
        out.sort_by(|a, b| a.device.cmp(&b.device));
        out
    }
}

#[cfg(test)]
#[path = "notifications_tests.rs"]
mod tests;
