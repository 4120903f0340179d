//! The daemon in production mode: the JetStream event log and snapshot
//! events on JetStream, against a real nats-server (`NATS_URL`; scripts/test
//! starts one). The test uses its own stream names and subject prefixes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use confkeep::daemon;
use confkeep::domain::PhaseKind;
use confkeep::effects::config::{DaemonConfig, NatsConfig, SshConfig};
use confkeep::effects::runner::SystemClock;
use confkeep::testbed::sim_fleet::{Fault, FleetSpec, SimFleet, inventory_toml};
use futures::StreamExt;

fn nats_url() -> String {
    std::env::var("NATS_URL")
        .expect("NATS_URL must point at nats-server with JetStream (scripts/test starts one)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_runs_on_jetstream_and_resumes_from_it() {
    let mut spec = FleetSpec::generated(4, 99);
    spec.add_fault(3, Fault::WrongPassword);
    let fleet = SimFleet::start(spec).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.toml");
    std::fs::write(&inventory, inventory_toml(fleet.devices())).unwrap();
    let tag = format!("T{}", std::process::id());
    let mut nats = NatsConfig::new(nats_url());
    nats.stream = format!("EVENTS_{tag}");
    nats.subject_prefix = format!("{tag}.backup.events");
    nats.snapshot_subject = format!("{tag}.config.snapshot.create.{{tenant_id}}.{{device_id}}");
    nats.snapshot_stream = format!("SNAPSHOTS_{tag}");
    let config = DaemonConfig {
        node: Some("js-test".into()),
        data_dir: dir.path().join("data"),
        inventory,
        http_listen: None,
        shutdown_grace_secs: 2,
        inventory_poll_secs: 2,
        nats: Some(nats.clone()),
        redis: None,
        ssh: SshConfig::default(),
        policy: common::prompt_policy(),
        ..DaemonConfig::default()
    };
    let mut daemon = daemon::start(config.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    common::until_rows(&mut daemon, "the fleet to settle", |rows| {
        rows.iter()
            .filter(|r| matches!(r.phase, PhaseKind::Idle | PhaseKind::AuthBlocked))
            .count()
            == 4
    })
    .await;
    let rows: Vec<_> = daemon.status.lock().unwrap().rows().collect();
    daemon.shutdown().await.unwrap();

    // Snapshot events carry the normalized text and its hash.
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream(&nats.snapshot_stream).await.unwrap();
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
    let mut seen = 0;
    while let Some(Ok(msg)) = messages.next().await {
        let event: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
        let device = event["device_id"].as_str().unwrap();
        let sim = fleet.device(device).unwrap();
        assert_eq!(event["sha256_hash"].as_str().unwrap(), sim.expected_hash());
        let text = event["config_text"].as_str().unwrap();
        assert_eq!(
            confkeep::domain::normalize::sha256_hex(text),
            sim.expected_hash()
        );
        assert!(msg.subject.as_str().ends_with(&format!(".demo.{device}")));
        seen += 1;
    }
    assert_eq!(seen, 3, "one snapshot per healthy device");
    assert_eq!(
        rows.iter().filter(|r| r.phase == PhaseKind::Idle).count(),
        3
    );

    // A second daemon resumes from the stream: same states, nothing re-run.
    let connections: Vec<u64> = fleet.devices().iter().map(|d| d.connections()).collect();
    let daemon = daemon::start(config, Arc::new(SystemClock)).await.unwrap();
    // From the checkpoint the shutdown wrote (the stream's whole log
    // folded into it), nothing left to replay after it.
    let restored = daemon.restored.clone().expect("the shutdown's checkpoint");
    assert!(restored.position >= 10, "{restored:?}");
    assert_eq!(daemon.replayed_events, 0);
    let again: Vec<_> = daemon.status.lock().unwrap().rows().collect();
    assert_eq!(again, rows, "replay lands on the same status");
    daemon.shutdown().await.unwrap();
    let after: Vec<u64> = fleet.devices().iter().map(|d| d.connections()).collect();
    assert_eq!(after, connections, "no attempt after a restart");
    let _ = js.delete_stream(&nats.snapshot_stream).await;
    let _ = js.delete_stream(format!("EVENTS_{tag}")).await;
    let _ = js
        .delete_stream(format!("OBJ_EVENTS_{tag}_CHECKPOINTS"))
        .await;
    fleet.shutdown().await;
}
