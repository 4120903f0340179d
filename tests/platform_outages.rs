//! The platform's servers going away mid-run, each a real server the test
//! owns and stops: PostgreSQL stopped (the last good inventory stays in
//! force, the outage is said once however many refreshes fail, backups go
//! on, and a row added meanwhile enrols once it is back), and nats-server
//! restarted (the daemon reconnects by itself, backups resume, and every
//! event acknowledged before the restart is still in the stream, each
//! device's sequence whole).

mod common;
#[path = "platform_box/mod.rs"]
mod platform_box;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use confkeep::daemon::{self, Daemon};
use confkeep::domain::{DeviceId, PhaseKind, RetryPolicy, Timestamp};
use confkeep::effects::config::{DaemonConfig, NatsConfig, PostgresConfig};
use confkeep::effects::credentials::LegacyKey;
use confkeep::effects::runner::{Clock, SystemClock};
use confkeep::projections::status::DeviceStatus;
use confkeep::store::{StoreConfig, jetstream::JetStreamConfig};
use confkeep::testbed::sim_fleet::{FleetSpec, SimFleet, inventory_toml};
use futures::StreamExt;
use platform_box::servers::{OwnNats, OwnPostgres};
use platform_box::{PlatformDb, Row, legacy_key_text, password_login, tenant};

/// Backed up every 2 s, so "backups go on" shows within seconds.
fn brisk() -> RetryPolicy {
    RetryPolicy {
        interval_secs: 2,
        ..common::prompt_policy()
    }
}

fn succeeded_since(rows: &[DeviceStatus], ids: &[String], t: Timestamp) -> bool {
    ids.iter().all(|id| {
        rows.iter()
            .any(|r| r.device == *id && r.last_success.is_some_and(|s| s > t))
    })
}

async fn until_reloads(
    daemon: &mut Daemon,
    what: &str,
    done: impl Fn(&daemon::InventoryReloads) -> bool,
) {
    let wait = async {
        while !done(&daemon.inventory_reloads.borrow()) {
            daemon.inventory_reloads.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_run_keeps_the_last_inventory_and_backups_go_on() {
    let pg = OwnPostgres::start().await;
    let db = PlatformDb::on(&pg.url()).await;
    let fleet = SimFleet::start(FleetSpec::generated(3, 31)).await.unwrap();
    let d = fleet.devices();
    let key_text = legacy_key_text();
    let key = LegacyKey::parse(&key_text).unwrap();
    let t = tenant();
    let row = |i: usize| Row {
        tenant: &t,
        ip: Some("127.0.0.1"),
        port: Some(i32::from(d[i].addr.port())),
        legacy: Some(key.seal(password_login(&d[i].user, &d[i].password).as_bytes())),
        ..Row::default()
    };
    let ids = vec![db.insert(row(0)).await, db.insert(row(1)).await];
    let dir = tempfile::tempdir().unwrap();
    let config = DaemonConfig {
        node: Some("pg-outage".into()),
        data_dir: dir.path().join("data"),
        postgres: Some(PostgresConfig {
            url: db.collector_url.clone(),
            refresh_secs: 1,
        }),
        shutdown_grace_secs: 2,
        policy: brisk(),
        ..DaemonConfig::default()
    };
    let mut daemon = platform_box::start_collector(config, &key_text).await;
    common::until_rows(&mut daemon, "both rows backed up", |rows| {
        succeeded_since(rows, &ids, Timestamp(0))
    })
    .await;

    db.admin.close().await;
    pg.down();
    let stopped = SystemClock.now();
    let refused = daemon.inventory_reloads.borrow().refused;
    until_reloads(&mut daemon, "three refreshes refused", |r| {
        r.refused >= refused + 3
    })
    .await;
    assert_eq!(
        daemon.inventory_reloads.borrow().outages,
        1,
        "the outage is said once"
    );
    common::until_rows(&mut daemon, "backups going on without PostgreSQL", |rows| {
        succeeded_since(rows, &ids, stopped)
    })
    .await;
    {
        let board = daemon.status.lock().unwrap();
        for id in &ids {
            let r = board.get(&DeviceId::parse(id).unwrap()).unwrap();
            assert_ne!(
                r.phase,
                PhaseKind::Retired,
                "an unreadable table retires nobody"
            );
        }
    }

    pg.up().await;
    let db = PlatformDb {
        admin: sqlx::PgPool::connect(&db.admin_url).await.unwrap(),
        ..db
    };
    let added = db.insert(row(2)).await;
    common::until_rows(
        &mut daemon,
        "the row added after the outage backed up",
        |rows| succeeded_since(rows, std::slice::from_ref(&added), stopped),
    )
    .await;
    assert_eq!(daemon.inventory_reloads.borrow().outages, 1);
    daemon.shutdown().await.unwrap();
}

/// Each device's last sequence as the board folded it from the stream.
fn sequences(daemon: &Daemon) -> BTreeMap<String, u64> {
    let board = daemon.status.lock().unwrap();
    board.rows().map(|r| (r.device, r.seq)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restarted_mid_run_reconnects_and_loses_no_acknowledged_event() {
    let mut nats = OwnNats::start().await;
    let fleet = SimFleet::start(FleetSpec::generated(3, 32)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.toml");
    common::write_private(&inventory, &inventory_toml(fleet.devices()));
    let config = DaemonConfig {
        node: Some("nats-restart".into()),
        data_dir: dir.path().join("data"),
        inventory,
        nats: Some(NatsConfig::new(nats.url())),
        shutdown_grace_secs: 2,
        policy: brisk(),
        ..DaemonConfig::default()
    };
    let mut daemon = daemon::start(config, Arc::new(SystemClock)).await.unwrap();
    let ids: Vec<String> = fleet.devices().iter().map(|d| d.id.clone()).collect();
    common::until_rows(&mut daemon, "every device backed up", |rows| {
        succeeded_since(rows, &ids, Timestamp(0))
    })
    .await;

    nats.down();
    // What the board folded came from the stream: acknowledged.
    let acknowledged = sequences(&daemon);
    let wait = async {
        while daemon.health.borrow_and_update().event_log.is_none() {
            daemon.health.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the daemon notices the log is gone");
    nats.up().await;
    let restarted = SystemClock.now();
    common::until_rows(&mut daemon, "backups resumed after the restart", |rows| {
        succeeded_since(rows, &ids, restarted)
    })
    .await;
    assert!(
        daemon.health.borrow().is_ok(),
        "{:?}",
        *daemon.health.borrow()
    );
    let folded = sequences(&daemon);
    daemon.shutdown().await.unwrap();

    let mut reader = JetStreamConfig::new(nats.url());
    reader.read_only = true;
    let log = confkeep::store::open(&StoreConfig::JetStream(reader))
        .await
        .unwrap();
    for (device, before) in &acknowledged {
        let seqs: Vec<u64> = log
            .device_history(&DeviceId::parse(device).unwrap())
            .map(|e| e.unwrap().seq)
            .collect()
            .await;
        let whole: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, whole, "{device}: its sequence has a gap or a repeat");
        assert!(
            seqs.len() as u64 >= folded[device],
            "{device}: folded events missing"
        );
        assert!(
            folded[device] > *before,
            "{device}: nothing recorded after the restart"
        );
    }
}
