//! `confkeep run` as the platform's collector: its inventory is the
//! platform's PostgreSQL `devices` table, read as the collector's role, its
//! logins sealed as the platform seals them. New rows enrol without a
//! restart, snmp and credential-less rows are left alone, a trusted key is
//! written back to `ssh_host_key_*`, and a credential changed in the table
//! reaches the very next attempt (the platform's scheduler needs a restart
//! for that). Snapshots land in the platform's `DEVICE_EVENTS` stream on
//! `config.snapshot.create.{device_id}`, read there as the platform's
//! ingest reads them.

mod common;
#[path = "platform_box/mod.rs"]
mod platform_box;

use std::sync::Arc;
use std::time::Duration;

use confkeep::daemon::{self, Daemon};
use confkeep::domain::{DeviceId, PhaseKind};
use confkeep::effects::config::{DaemonConfig, NatsConfig, PostgresConfig};
use confkeep::effects::credentials::{LegacyKey, Vault};
use confkeep::effects::runner::SystemClock;
use confkeep::projections::status::DeviceStatus;
use confkeep::testbed::sim_fleet::{FleetSpec, SimDevice, SimFleet};
use futures::StreamExt;
use platform_box::{PlatformDb, Row, legacy_key_text, password_login, tenant};

fn phase(rows: &[DeviceStatus], id: &str) -> Option<PhaseKind> {
    rows.iter().find(|r| r.device == id).map(|r| r.phase)
}

fn backed_up(rows: &[DeviceStatus], id: &str) -> bool {
    rows.iter()
        .any(|r| r.device == id && r.phase == PhaseKind::Idle && r.last_success.is_some())
}

/// Wait (at most 30 s) until the row's host key columns say `fingerprint`,
/// verified: the write-back runs beside the log, so the table is polled.
async fn until_written_back(db: &PlatformDb, id: &str, fingerprint: &str) {
    let wait = async {
        loop {
            if db.host_key(id).await == (Some(fingerprint.to_owned()), true, true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .is_err()
    {
        let now = db.host_key(id).await;
        panic!("{id}: host key columns {now:?}, expected {fingerprint} verified");
    }
}

async fn start(db: &PlatformDb, dir: &std::path::Path, key: &str) -> Daemon {
    let config = DaemonConfig {
        node: Some("platform-test".into()),
        data_dir: dir.join("data"),
        postgres: Some(PostgresConfig {
            url: db.collector_url.clone(),
            refresh_secs: 1,
        }),
        shutdown_grace_secs: 2,
        policy: common::prompt_policy(),
        ..DaemonConfig::default()
    };
    let vault = Vault {
        legacy: Some(LegacyKey::parse(key).unwrap()),
        transit: None,
    };
    daemon::start_with_vault(config, Arc::new(SystemClock), vault)
        .await
        .expect("daemon")
}

fn row<'a>(t: &'a str, d: &SimDevice, sealed: Vec<u8>) -> Row<'a> {
    Row {
        tenant: t,
        ip: Some("127.0.0.1"),
        port: Some(i32::from(d.addr.port())),
        legacy: Some(sealed),
        ..Row::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platforms_rows_are_backed_up_and_followed_without_a_restart() {
    let fleet = SimFleet::start(FleetSpec::generated(4, 12)).await.unwrap();
    let d = fleet.devices();
    let db = PlatformDb::new().await;
    let key_text = legacy_key_text();
    let key = LegacyKey::parse(&key_text).unwrap();
    let seal = |d: &SimDevice, pw: &str| key.seal(password_login(&d.user, pw).as_bytes());
    let t = tenant();
    let a = db.insert(row(&t, &d[0], seal(&d[0], &d[0].password))).await;
    let b = db.insert(row(&t, &d[1], seal(&d[1], &d[1].password))).await;
    let snmp = db
        .insert(Row {
            device_type: Some("snmp"),
            ..row(&t, &d[2], seal(&d[2], &d[2].password))
        })
        .await;
    let bare = db
        .insert(Row {
            legacy: None,
            ..row(&t, &d[2], Vec::new())
        })
        .await;
    // A row whose port is wrong (nothing listens there).
    let moved = db
        .insert(Row {
            port: Some(i32::from(common::free_port())),
            ..row(&t, &d[3], seal(&d[3], &d[3].password))
        })
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = start(&db, dir.path(), &key_text).await;

    common::until_rows(&mut daemon, "both routeros rows backed up", |rows| {
        backed_up(rows, &a) && backed_up(rows, &b)
    })
    .await;
    common::until_rows(&mut daemon, "the wrong port refused", |rows| {
        phase(rows, &moved) == Some(PhaseKind::Backoff)
    })
    .await;
    // The platform corrects the port: the very next attempt uses it.
    let reloads = daemon.inventory_reloads.borrow().applied;
    sqlx::query("UPDATE devices SET ssh_port = $2 WHERE id::text = $1")
        .bind(&moved)
        .bind(i32::from(d[3].addr.port()))
        .execute(&db.admin)
        .await
        .unwrap();
    while daemon.inventory_reloads.borrow().applied < reloads + 2 {
        daemon.inventory_reloads.changed().await.unwrap();
    }
    let reply = daemon
        .runner
        .trigger(DeviceId::parse(&moved).unwrap(), "after-port-fix".into())
        .await;
    assert!(
        matches!(reply, Some(confkeep::domain::TriggerReply::Success { .. })),
        "{reply:?}"
    );
    let port = daemon
        .status
        .lock()
        .unwrap()
        .get(&DeviceId::parse(&moved).unwrap())
        .unwrap()
        .port;
    assert_eq!(port, d[3].addr.port(), "the status row follows the table");
    {
        let rows: Vec<DeviceStatus> = daemon.status.lock().unwrap().rows().collect();
        assert_eq!(phase(&rows, &snmp), None, "an snmp row is not backed up");
        assert_eq!(
            phase(&rows, &bare),
            None,
            "a row without credentials is not"
        );
    }
    // Trust on first use reached the platform's columns.
    until_written_back(&db, &a, &d[0].host_key_fingerprint).await;
    until_written_back(&db, &b, &d[1].host_key_fingerprint).await;

    // A new row: enrolled and backed up at the next refresh.
    let c = db.insert(row(&t, &d[2], seal(&d[2], &d[2].password))).await;
    common::until_rows(&mut daemon, "the new row backed up", |rows| {
        backed_up(rows, &c)
    })
    .await;

    // The platform writes a wrong password for a: the next attempt uses it
    // and is refused (blocked, never retried with it)...
    sqlx::query("UPDATE devices SET encrypted_credentials = $2 WHERE id::text = $1")
        .bind(&a)
        .bind(seal(&d[0], "wrong"))
        .execute(&db.admin)
        .await
        .unwrap();
    let reloads = daemon.inventory_reloads.borrow().applied;
    while daemon.inventory_reloads.borrow().applied < reloads + 2 {
        daemon.inventory_reloads.changed().await.unwrap();
    }
    let device = DeviceId::parse(&a).unwrap();
    daemon.runner.trigger(device, "after-rotation".into()).await;
    common::until_rows(&mut daemon, "a blocked by the wrong password", |rows| {
        phase(rows, &a) == Some(PhaseKind::AuthBlocked)
    })
    .await;
    // ...and the fix, written in the table, unblocks it without a restart.
    let before = {
        let rows: Vec<DeviceStatus> = daemon.status.lock().unwrap().rows().collect();
        rows.iter()
            .find(|r| r.device == a)
            .and_then(|r| r.last_success)
    };
    sqlx::query("UPDATE devices SET encrypted_credentials = $2 WHERE id::text = $1")
        .bind(&a)
        .bind(seal(&d[0], &d[0].password))
        .execute(&db.admin)
        .await
        .unwrap();
    common::until_rows(&mut daemon, "a backed up again after the fix", |rows| {
        rows.iter()
            .any(|r| r.device == a && r.phase == PhaseKind::Idle && r.last_success > before)
    })
    .await;
    daemon.shutdown().await.unwrap();
}

/// The platform's ingest: the four required fields, or the message is
/// dropped; the hash is of the text.
fn ingest(payload: &[u8]) -> Option<(String, String, String)> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let field = |k: &str| v.get(k)?.as_str().map(str::to_owned);
    let (device, _tenant, hash, text) = (
        field("device_id")?,
        field("tenant_id")?,
        field("sha256_hash")?,
        field("config_text")?,
    );
    (confkeep::domain::normalize::sha256_hex(&text) == hash).then_some((device, hash, text))
}

/// A snapshot event over `max_payload`: no `config_text`, a `config_object`
/// naming the object whose bytes hash to `sha256_hash`.
async fn by_reference(
    objects: &async_nats::jetstream::object_store::ObjectStore,
    payload: &[u8],
) -> (String, String) {
    use tokio::io::AsyncReadExt;
    let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
    assert!(v.get("config_text").is_none(), "the text travels once");
    let hash = v["sha256_hash"].as_str().unwrap().to_owned();
    let object = &v["config_object"];
    assert_eq!(object["sha256"].as_str(), Some(hash.as_str()));
    let mut text = String::new();
    objects
        .get(object["name"].as_str().unwrap())
        .await
        .unwrap()
        .read_to_string(&mut text)
        .await
        .unwrap();
    assert_eq!(object["size"].as_u64(), Some(text.len() as u64));
    assert_eq!(confkeep::domain::normalize::sha256_hex(&text), hash);
    (v["device_id"].as_str().unwrap().to_owned(), hash)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_land_in_the_platforms_stream_as_its_ingest_reads_them() {
    let mut spec = FleetSpec::generated(3, 21);
    // Over the server's max_payload (1 MiB by default): the object store.
    spec.devices[2].export_bytes = 1_300_000;
    let fleet = SimFleet::start(spec).await.unwrap();
    let d = fleet.devices();
    let db = PlatformDb::new().await;
    let key_text = legacy_key_text();
    let key = LegacyKey::parse(&key_text).unwrap();
    let t = tenant();
    let mut ids = Vec::new();
    for dev in d {
        let sealed = key.seal(password_login(&dev.user, &dev.password).as_bytes());
        ids.push(db.insert(row(&t, dev, sealed)).await);
    }
    // The platform's stream, created as the platform creates it.
    let tag = format!("P{}", db.name);
    let nats_url = std::env::var("NATS_URL").expect("NATS_URL (scripts/test starts nats-server)");
    let js = async_nats::jetstream::new(async_nats::connect(&nats_url).await.unwrap());
    let platform_stream = format!("DEVICE_EVENTS_{tag}");
    js.create_stream(async_nats::jetstream::stream::Config {
        name: platform_stream.clone(),
        subjects: vec![
            format!("{tag}.config.snapshot.>"),
            format!("{tag}.device.>"),
        ],
        max_age: Duration::from_secs(24 * 3600),
        max_bytes: 64 * 1024 * 1024,
        discard: async_nats::jetstream::stream::DiscardPolicy::Old,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut nats = NatsConfig::new(&nats_url);
    nats.stream = format!("EVENTS_{tag}");
    nats.subject_prefix = format!("{tag}.backup.events");
    nats.snapshot_subject = format!("{tag}.config.snapshot.create.{{device_id}}");
    nats.snapshot_stream = format!("CONFIG_SNAPSHOTS_{tag}");
    nats.snapshot_objects = format!("OBJECTS_{tag}");
    let dir = tempfile::tempdir().unwrap();
    let config = DaemonConfig {
        node: Some("platform-stream".into()),
        data_dir: dir.path().join("data"),
        postgres: Some(PostgresConfig {
            url: db.collector_url.clone(),
            refresh_secs: 60,
        }),
        nats: Some(nats.clone()),
        shutdown_grace_secs: 2,
        policy: common::prompt_policy(),
        ..DaemonConfig::default()
    };
    let mut daemon = platform_box::start_collector(config, &key_text).await;
    common::until_rows(&mut daemon, "every row backed up", |rows| {
        ids.iter().all(|id| backed_up(rows, id))
    })
    .await;
    let big = DeviceId::parse(&ids[2]).unwrap();
    let apart = daemon
        .status
        .lock()
        .unwrap()
        .get(&big)
        .unwrap()
        .stored_apart;
    let apart = apart.expect("the big config's row says it is stored apart");
    assert!(
        apart.message_bytes > apart.max_payload && apart.over_by() > 200_000,
        "{apart:?}"
    );
    assert_eq!(
        apart.object,
        format!("OBJECTS_{tag}/{t}/{big}/{}", d[2].expected_hash())
    );
    let history = daemon.log.device_history(&big);
    let collected: Vec<_> = history
        .filter_map(|e| async move {
            match e.unwrap().event {
                confkeep::domain::Event::AttemptFinished {
                    outcome: confkeep::domain::Outcome::Collected { stored_apart, .. },
                    ..
                } => Some(stored_apart),
                _ => None,
            }
        })
        .collect()
        .await;
    assert_eq!(collected, [Some(apart.clone())], "the history records it");
    daemon.shutdown().await.unwrap();

    assert!(
        js.get_stream(&nats.snapshot_stream).await.is_err(),
        "no stream of ours where the platform's covers the subject"
    );
    let stream = js.get_stream(&platform_stream).await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
        .await
        .unwrap();
    let mut messages = consumer
        .fetch()
        .max_messages(10)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .unwrap();
    let mut ingested = Vec::new();
    let objects = js.get_object_store(&nats.snapshot_objects).await.unwrap();
    while let Some(Ok(msg)) = messages.next().await {
        let (device, hash) = match ingest(&msg.payload) {
            Some((device, hash, _)) => (device, hash),
            None => by_reference(&objects, &msg.payload).await,
        };
        assert_eq!(
            msg.subject.as_str(),
            format!("{tag}.config.snapshot.create.{device}")
        );
        let id = msg
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.to_string());
        assert_eq!(
            id,
            Some(format!("{device}/1")),
            "the attempt is the message id"
        );
        let sim = &d[ids.iter().position(|i| *i == device).unwrap()];
        assert_eq!(
            hash,
            sim.expected_hash(),
            "the bytes are the normalized export"
        );
        ingested.push(device);
    }
    ingested.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(ingested, want);
    let _ = js.delete_stream(&platform_stream).await;
    let _ = js.delete_object_store(&nats.snapshot_objects).await;
    let _ = js.delete_stream(&nats.stream).await;
}
