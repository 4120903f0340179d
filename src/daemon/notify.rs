//! The notifiers: one task per `[[notify]]` receiver, each following the
//! log with its own fold ([`NotificationFold`]) and its own checkpoint.
//!
//! A task replays the log quietly up to its checkpoint, then tells the
//! receiver of every notification after it, in log order, one at a time,
//! retrying a failed try with backoff (1 s doubling to 5 min) until it is
//! delivered; the checkpoint moves only after a delivery. So a restart
//! never re-fires what was delivered and a crash never loses what was not
//! (a crash between a delivery and its checkpoint delivers it again: the
//! id lets a receiver see that). A receiver with no checkpoint starts at
//! the log's end: it is told what happens from now on, not the past.
//! Nothing here is on the runner's path, so a receiver that never answers
//! delays only its own notifications, never a backup. How each receiver is
//! doing is set on the status board (`summary.notifications`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::domain::{DeviceId, TenantId};
use crate::effects::config::NotifyConfig;
use crate::effects::notify::{Receiver, checkpoint_path, load_checkpoint, save_checkpoint};
use crate::effects::runner::Clock;
use crate::effects::snapshot_read::SnapshotReader;
use crate::projections::notifications::{
    Alerts, Notification, NotificationFold, NotificationKind, ReceiverStatus,
};
use crate::projections::snapshots::ConfigDiff;
use crate::projections::status::StatusBoard;
use crate::store::{EventLog, GlobalSeq};

/// What a receiver saves after each delivery.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Checkpoint {
    global: GlobalSeq,
    alerts: Alerts,
}

/// What every notifier shares.
#[derive(Clone)]
pub struct Shared {
    pub log: Arc<dyn EventLog>,
    pub reader: Option<Arc<SnapshotReader>>,
    pub board: Arc<Mutex<StatusBoard>>,
    pub clock: Arc<dyn Clock>,
    pub data_dir: PathBuf,
    /// Events compacted out of the live log: folded quietly first.
    pub archive: crate::store::archive::Archive,
    /// Tries so far, all receivers together.
    pub tries: watch::Sender<Tries>,
}

/// Notification tries since start, all receivers together: what a test
/// (or a dashboard) awaits instead of sleeping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tries {
    pub delivered: u64,
    pub failed: u64,
}

const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(300);
/// How often staleness is looked for.
const STALE_TICK: Duration = Duration::from_secs(30);

struct Notifier {
    shared: Shared,
    config: NotifyConfig,
    receiver: Receiver,
    path: PathBuf,
    fold: NotificationFold,
    status: ReceiverStatus,
    at: GlobalSeq,
    stop: watch::Receiver<bool>,
}

/// Start one task per receiver; a receiver that cannot be set up is said
/// in the log and in the status, and the others go on.
pub fn start(shared: Shared, configs: &[NotifyConfig], stop: &watch::Sender<bool>) {
    for (i, config) in configs.iter().enumerate() {
        let name = config.name_at(i);
        let timeout = Duration::from_secs(config.timeout_secs);
        let (receiver, kind) = match (&config.webhook, &config.exec) {
            (Some(url), _) => (Receiver::webhook(url, timeout), "webhook"),
            (None, Some(argv)) => (Some(Receiver::Exec { argv: argv.clone() }), "exec"),
            (None, None) => (None, "none"),
        };
        let mut status = ReceiverStatus {
            name: name.clone(),
            kind: kind.into(),
            ..ReceiverStatus::default()
        };
        let Some(receiver) = receiver else {
            status.last_error = Some("TLS could not be set up for the webhook".into());
            tracing::error!(receiver = %name, "notifications cannot be sent: TLS could not be set up");
            set_status(&shared.board, &status);
            continue;
        };
        let notifier = Notifier {
            path: checkpoint_path(&shared.data_dir, &name),
            shared: shared.clone(),
            config: config.clone(),
            receiver,
            fold: NotificationFold::default(),
            status,
            at: 0,
            stop: stop.subscribe(),
        };
        tokio::spawn(notifier.run());
    }
}

fn set_status(board: &Mutex<StatusBoard>, status: &ReceiverStatus) {
    if let Ok(mut b) = board.lock() {
        b.set_receiver(status.clone());
    }
}

impl Notifier {
    async fn run(mut self) {
        let saved = match load_checkpoint::<Checkpoint>(&self.path) {
            Ok(c) => c,
            Err(e) => {
                // Starting over would fire the whole history again.
                tracing::error!(receiver = %self.status.name, error = %e, "the notification checkpoint does not read: this receiver is stopped until it is fixed or removed");
                self.status.last_error = Some(format!("checkpoint: {e}"));
                set_status(&self.shared.board, &self.status);
                return;
            }
        };
        if !self.replay(saved).await {
            return;
        }
        self.follow().await;
    }

    /// Fold the log to its end: quietly up to the checkpoint, telling what
    /// comes after it. Without a checkpoint everything is quiet, and the
    /// end becomes the checkpoint. `false`: stopped.
    async fn replay(&mut self, saved: Option<Checkpoint>) -> bool {
        let quiet_until = saved.as_ref().map_or(GlobalSeq::MAX, |c| c.global);
        let mut alerts = saved.map(|c| c.alerts);
        // Older than anything live, so older than any checkpoint: quiet.
        let fold = &mut self.fold;
        self.shared.archive.for_each(
            |env| {
                fold.apply(env);
            },
            |p| tracing::warn!(problem = %p, "an archived record does not read"),
        );
        let mut stream = self.shared.log.replay(1);
        while let Some(item) = stream.next().await {
            let Ok((global, env)) = item else {
                continue;
            };
            if global > quiet_until
                && let Some(a) = alerts.take()
            {
                self.fold.restore(a);
            }
            let told = self.fold.apply(&env);
            self.at = global;
            if global > quiet_until && !self.tell(told, global).await {
                return false;
            }
        }
        if let Some(a) = alerts.take() {
            self.fold.restore(a);
        }
        self.save();
        true
    }

    /// Follow the log's tail and tick for staleness until stopped.
    async fn follow(&mut self) {
        let mut tail = self.shared.log.tail(self.at + 1);
        let mut tick = tokio::time::interval(STALE_TICK);
        loop {
            tokio::select! {
                item = tail.next() => match item {
                    Some(Ok((global, env))) => {
                        let told = self.fold.apply(&env);
                        self.at = global;
                        if !self.tell(told, global).await {
                            return;
                        }
                    }
                    Some(Err(_)) => {}
                    None => tail = self.shared.log.tail(self.at + 1),
                },
                _ = tick.tick() => {
                    let stale = self.fold.stale_at(self.shared.clock.now());
                    if !self.tell(stale, self.at).await {
                        return;
                    }
                }
                _ = self.stop.changed() => return,
            }
        }
    }

    /// Deliver the wanted ones of `told`, then save the checkpoint at
    /// `global`. `false`: stopped before all were delivered.
    async fn tell(&mut self, told: Vec<Notification>, global: GlobalSeq) -> bool {
        let wanted: Vec<Notification> = told
            .into_iter()
            .filter(|n| self.config.wants(n.event.name()))
            .collect();
        if wanted.is_empty() {
            return true;
        }
        for (i, n) in wanted.iter().enumerate() {
            self.status.pending = wanted.len() - i;
            if !self.deliver(n).await {
                return false;
            }
        }
        self.status.pending = 0;
        self.at = self.at.max(global);
        self.save();
        true
    }

    fn save(&mut self) {
        let checkpoint = Checkpoint {
            global: self.at,
            alerts: self.fold.alerts().clone(),
        };
        if let Err(e) = save_checkpoint(&self.path, &checkpoint) {
            tracing::warn!(receiver = %self.status.name, error = %e, "the notification checkpoint was not saved: a restart may tell the last ones again");
        }
        self.status.checkpoint = self.at;
        set_status(&self.shared.board, &self.status);
    }

    /// Try until delivered (or stopped), with backoff.
    async fn deliver(&mut self, n: &Notification) -> bool {
        let diff = self.diff_size(n).await;
        let body = serde_json::to_vec(&Body {
            n,
            diff: diff.as_ref(),
        })
        .unwrap_or_default();
        let env = environment(n, diff.as_ref());
        let timeout = Duration::from_secs(self.config.timeout_secs);
        let mut wait = FIRST_RETRY;
        loop {
            set_status(&self.shared.board, &self.status);
            match self.receiver.deliver(&body, &env, timeout).await {
                Ok(()) => {
                    self.status.delivered += 1;
                    self.status.last_error = None;
                    self.shared.tries.send_modify(|t| t.delivered += 1);
                    return true;
                }
                Err(e) => {
                    if self.status.last_error.is_none() {
                        tracing::warn!(receiver = %self.status.name, notification = %n.id, error = %e, "a notification was not delivered: retrying with backoff");
                    }
                    self.status.failed_tries += 1;
                    self.status.last_error = Some(e.to_string());
                    self.shared.tries.send_modify(|t| t.failed += 1);
                }
            }
            set_status(&self.shared.board, &self.status);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.stop.changed() => return false,
            }
            wait = (wait * 2).min(LAST_RETRY);
        }
    }

    /// Lines added and removed by a change, when both configs can be read.
    async fn diff_size(&self, n: &Notification) -> Option<DiffSize> {
        let (NotificationKind::ConfigChanged, Some(old), Some(new), Some(reader)) =
            (n.event, &n.old_hash, &n.new_hash, &self.shared.reader)
        else {
            return None;
        };
        let tenant = TenantId::parse(&n.tenant).ok()?;
        let device = DeviceId::parse(&n.device).ok()?;
        let old_text = reader.text(&tenant, &device, old).await.ok()?;
        let new_text = reader.text(&tenant, &device, new).await.ok()?;
        let d = ConfigDiff::between(old, new, &old_text, &new_text);
        Some(DiffSize {
            added: d.added,
            removed: d.removed,
        })
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
struct DiffSize {
    added: usize,
    removed: usize,
}

/// The webhook's body: the facts and, for a change, the diff's size.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(flatten)]
    n: &'a Notification,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<&'a DiffSize>,
}

/// The exec hook's environment: the same facts, `CONFKEEP_*`.
fn environment(n: &Notification, diff: Option<&DiffSize>) -> Vec<(String, String)> {
    let mut env = vec![
        ("CONFKEEP_ID", n.id.clone()),
        ("CONFKEEP_EVENT", n.event.name().to_owned()),
        ("CONFKEEP_DEVICE", n.device.clone()),
        ("CONFKEEP_TENANT", n.tenant.clone()),
        ("CONFKEEP_AT", crate::effects::snapshot::rfc3339(n.at)),
        ("CONFKEEP_PHASE", n.phase.name().to_owned()),
    ];
    let optional = [
        ("CONFKEEP_SEQ", n.seq.map(|s| s.to_string())),
        ("CONFKEEP_OLD_HASH", n.old_hash.clone()),
        ("CONFKEEP_NEW_HASH", n.new_hash.clone()),
        ("CONFKEEP_REASON", n.reason.clone()),
        ("CONFKEEP_DIFF_ADDED", diff.map(|d| d.added.to_string())),
        ("CONFKEEP_DIFF_REMOVED", diff.map(|d| d.removed.to_string())),
    ];
    env.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_accepts_exactly_the_kinds_the_fold_tells() {
        let told: Vec<&str> = NotificationKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(told, crate::effects::config::NOTIFICATION_KINDS);
    }
}
