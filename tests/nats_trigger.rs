//! The platform's manual trigger over NATS request-reply, against a real
//! nats-server: a reply for every status (success with the snapshot's hash,
//! locked while an attempt runs, blocked, not_found, failed naming the
//! field of a malformed request), served in a queue group.

mod common;

use std::sync::Arc;
use std::time::Duration;

use confkeep::daemon;
use confkeep::domain::PhaseKind;
use confkeep::effects::config::{DaemonConfig, NatsConfig};
use confkeep::effects::runner::SystemClock;
use confkeep::testbed::sim_fleet::{Fault, FleetSpec, SimFleet, inventory_toml};

fn phase(rows: &[confkeep::projections::status::DeviceStatus], id: &str) -> Option<PhaseKind> {
    rows.iter().find(|r| r.device == id).map(|r| r.phase)
}

async fn ask(client: &async_nats::Client, subject: &str, body: &str) -> serde_json::Value {
    let reply = tokio::time::timeout(
        Duration::from_secs(60),
        client.request(subject.to_owned(), body.to_owned().into()),
    )
    .await
    .expect("a reply within a minute")
    .expect("a reply");
    serde_json::from_slice(&reply.payload).expect("the reply is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_trigger_gets_the_platforms_reply() {
    let mut spec = FleetSpec::generated(3, 41);
    spec.add_fault(1, Fault::WrongPassword);
    spec.add_fault(
        2,
        Fault::SlowOutput {
            bytes_per_sec: 1024,
        },
    );
    let fleet = SimFleet::start(spec).await.unwrap();
    let d = fleet.devices();
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.toml");
    std::fs::write(&inventory, inventory_toml(d)).unwrap();
    let url = std::env::var("NATS_URL").expect("NATS_URL (scripts/test starts nats-server)");
    let tag = format!("TR{}", std::process::id());
    let mut nats = NatsConfig::new(&url);
    nats.stream = format!("EVENTS_{tag}");
    nats.subject_prefix = format!("{tag}.backup.events");
    nats.snapshot_subject = format!("{tag}.config.snapshot.create.{{device_id}}");
    nats.snapshot_stream = format!("SNAPSHOTS_{tag}");
    nats.trigger_subject = format!("{tag}.config.backup.trigger");
    let config = DaemonConfig {
        node: Some("trigger-test".into()),
        data_dir: dir.path().join("data"),
        inventory,
        shutdown_grace_secs: 1,
        nats: Some(nats.clone()),
        policy: confkeep::domain::RetryPolicy {
            command_timeout_secs: 120,
            ..common::prompt_policy()
        },
        ..DaemonConfig::default()
    };
    let mut daemon = daemon::start(config, Arc::new(SystemClock)).await.unwrap();
    let (ok, blocked, slow) = (d[0].id.clone(), d[1].id.clone(), d[2].id.clone());
    common::until_rows(
        &mut daemon,
        "one backed up, one blocked, one running",
        |rows| {
            phase(rows, &ok) == Some(PhaseKind::Idle)
                && phase(rows, &blocked) == Some(PhaseKind::AuthBlocked)
                && phase(rows, &slow) == Some(PhaseKind::Running)
        },
    )
    .await;
    let client = async_nats::connect(&url).await.unwrap();
    let subject = nats.trigger_subject.clone();
    let tenant = d[0].tenant.clone();
    let req = |device: &str| format!(r#"{{"device_id":"{device}","tenant_id":"{tenant}"}}"#);

    let r = ask(&client, &subject, &req(&ok)).await;
    assert_eq!(r["status"], "success", "{r}");
    assert_eq!(
        r["sha256_hash"].as_str(),
        Some(d[0].expected_hash().as_str()),
        "{r}"
    );
    let r = ask(&client, &subject, &req(&slow)).await;
    assert_eq!(r["status"], "locked", "{r}");
    let r = ask(&client, &subject, &req(&blocked)).await;
    assert_eq!(r["status"], "blocked", "{r}");
    let r = ask(&client, &subject, &req("no-such-router")).await;
    assert_eq!(r["status"], "not_found", "{r}");
    let r = ask(
        &client,
        &subject,
        &format!(r#"{{"device_id":"{ok}","tenant_id":"another-tenant"}}"#),
    )
    .await;
    assert_eq!(r["status"], "not_found", "{r}");
    let r = ask(&client, &subject, r#"{"tenant_id":"x"}"#).await;
    assert_eq!(r["status"], "failed", "{r}");
    assert!(r["error"].as_str().unwrap().contains("device_id"), "{r}");
    let r = ask(&client, &subject, "not json").await;
    assert_eq!(r["status"], "failed", "{r}");
    assert!(r["error"].is_string(), "{r}");

    daemon.shutdown().await.unwrap();
    let js = async_nats::jetstream::new(client);
    let _ = js.delete_stream(&nats.stream).await;
    let _ = js.delete_stream(&nats.snapshot_stream).await;
}
