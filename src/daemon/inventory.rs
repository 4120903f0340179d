//! Where the daemon's inventory comes from, kept current: the TOML file
//! (re-read when it changes or on SIGHUP) or the platform's PostgreSQL
//! `devices` table (re-read every `refresh_secs`). Either way the runner is
//! sent the whole desired fleet and the scheduler decides what changed, so
//! an unchanged inventory records nothing.
//!
//! A source that cannot be read keeps the last good inventory in force: a
//! bad file edit is reported with file, line and field; a database that is
//! down is said once when it goes and once when it comes back. The daemon
//! never reconciles against an inventory it could not read (that would
//! retire the fleet).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::domain::Policies;
use crate::effects::inventory::Inventory;
use crate::effects::inventory::postgres::{PgInventory, ReadNotes};
use crate::effects::runner::{Command, DesiredDevice, RunnerHandle};

use super::InventoryReloads;

/// What the inventory wants the fleet to be: each device under the policy
/// its tags select.
pub fn desired(inventory: &Inventory, policies: &Policies) -> Vec<DesiredDevice> {
    inventory
        .devices
        .values()
        .map(|d| DesiredDevice {
            device: d.id.clone(),
            tenant: d.tenant.clone(),
            host: d.host.clone(),
            port: d.port,
            policy: policies.for_tags(&d.tags),
            tags: d.tags.clone(),
            credentials: d.credentials_version(),
            known_host_key: d.known_host_key.clone(),
        })
        .collect()
}

/// Where a freshly read inventory goes, whichever source read it: the
/// executor's copy (logins, problems) and the runner's reconcile.
pub(super) struct Feed {
    pub policies: Policies,
    pub inventory: Arc<RwLock<Inventory>>,
    pub runner: RunnerHandle,
    pub reloads: tokio::sync::watch::Sender<InventoryReloads>,
}

impl Feed {
    /// Install `new` and hand the runner the desired fleet; the scheduler
    /// decides what changed (credentials included: the operator's fix of a
    /// refused login). Returns how many devices it holds.
    fn apply(&self, new: Inventory) -> usize {
        let devices = desired(&new, &self.policies);
        let count = devices.len();
        if let Ok(mut inv) = self.inventory.write() {
            *inv = new;
        }
        self.runner.send(Command::Reconcile { devices });
        self.reloads.send_modify(|r| r.applied += 1);
        count
    }

    /// The source could not be read: the last good inventory stays.
    fn refused(&self, why: String) {
        self.reloads.send_modify(|r| {
            r.refused += 1;
            r.last_error = Some(why);
        });
    }
}

/// Re-read the inventory when the file changes (checked every
/// `poll_secs`, never when 0) or on SIGHUP. A bad edit is reported with file, line and field, and the last
/// good inventory stays in force.
pub(super) fn spawn_file_watcher(
    path: PathBuf,
    poll_secs: u64,
    feed: Feed,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    // Installed before the task starts: a SIGHUP that arrives early must
    // reload, not kill the process (its default action).
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    tokio::spawn(async move {
        let mut last_text = std::fs::read(&path).ok();
        let mut tick = tokio::time::interval(Duration::from_secs(poll_secs.max(1)));
        loop {
            let forced = tokio::select! {
                _ = tick.tick(), if poll_secs > 0 => false,
                Some(_) = async { match &mut hup { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
                _ = stop.changed() => return,
            };
            let text = match std::fs::read(&path) {
                Ok(t) => t,
                Err(e) => {
                    if forced {
                        tracing::error!(inventory = %path.display(), error = %e, "cannot read the inventory; keeping the last good one");
                    }
                    continue;
                }
            };
            if !forced && last_text.as_deref() == Some(text.as_slice()) {
                continue;
            }
            last_text = Some(text.clone());
            let parsed = std::str::from_utf8(&text)
                .map_err(|e| format!("inventory {}: not UTF-8: {e}", path.display()))
                .and_then(|t| {
                    Inventory::parse(&path, t)
                        .and_then(|inv| inv.check_credentials(&path).map(|()| inv))
                        .map_err(|e| e.to_string())
                });
            match parsed {
                Ok(new) => {
                    for w in new.permission_warnings(&path) {
                        tracing::warn!("{w}");
                    }
                    let devices = feed.apply(new);
                    tracing::info!(inventory = %path.display(), devices, "inventory reloaded");
                }
                Err(e) => {
                    tracing::error!(error = %e, "inventory change refused; keeping the last good inventory");
                    feed.refused(e);
                }
            }
        }
    });
}

/// Read the PostgreSQL inventory once (at start-up): the inventory, or
/// `None` when the database cannot be read yet (said; the refresher tries
/// again and the fleet in the log keeps its schedule meanwhile).
pub(super) async fn first_pg_read(pg: &PgInventory) -> Option<Inventory> {
    match pg.read().await {
        Ok((inventory, notes)) => {
            say_notes(pg, &notes, inventory.devices.len());
            Some(inventory)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read the PostgreSQL inventory at start-up; the devices already in the log keep their schedule, and it is tried again every refresh");
            None
        }
    }
}

fn say_notes(pg: &PgInventory, notes: &ReadNotes, devices: usize) {
    tracing::info!(
        inventory = %pg.target(),
        rows = notes.rows,
        devices,
        snmp = notes.snmp,
        without_credentials = notes.without_credentials,
        "PostgreSQL inventory read"
    );
    for why in &notes.unusable {
        tracing::warn!(inventory = %pg.target(), "row left out: {why}");
    }
}

/// Re-read the PostgreSQL inventory every `every` and hand the runner the
/// desired fleet. An outage is said once, and its end once.
pub(super) fn spawn_pg_refresher(
    pg: PgInventory,
    every: Duration,
    feed: Feed,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut down = false;
        let mut last_notes = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            match pg.read().await {
                Ok((new, notes)) => {
                    if down {
                        tracing::info!(inventory = %pg.target(), "PostgreSQL inventory readable again");
                        down = false;
                    }
                    if last_notes.as_ref() != Some(&notes) {
                        say_notes(&pg, &notes, new.devices.len());
                        last_notes = Some(notes);
                    }
                    feed.apply(new);
                }
                Err(e) => {
                    if !down {
                        tracing::error!(error = %e, "cannot read the PostgreSQL inventory; keeping the last good one");
                        down = true;
                        feed.reloads.send_modify(|r| r.outages += 1);
                    }
                    feed.refused(e.to_string());
                }
            }
        }
    });
}
