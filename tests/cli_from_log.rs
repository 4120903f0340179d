//! `confkeep status`, `history` and `diff` from the log alone: a short demo
//! leaves a data directory, the daemon is gone, and an auditor reads it
//! with `--data-dir` — filters, paging, JSON, exit codes. And the same
//! answers from both sides: what the API said while the daemon ran is
//! what the log says once it has stopped.

mod common;

use std::path::Path;
use std::sync::Arc;

use confkeep::api::{DevicesResponse, ErrorBody, StatusResponse};
use confkeep::cli::http::ApiClient;
use confkeep::domain::{Envelope, PhaseKind};
use confkeep::effects::runner::SystemClock;
use confkeep::projections::snapshots::ConfigDiff;
use confkeep::testbed::sim_fleet::{FleetSpec, SimFleet};

async fn confkeep(args: &[&str], dir: &Path) -> (Option<i32>, String, String) {
    common::confkeep_on(args, dir).await
}

#[tokio::test]
async fn an_auditor_reads_status_history_and_diffs_from_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (code, out, err) = confkeep(&["demo", "--seconds", "6", "--devices", "10"], &data).await;
    assert_eq!(code, Some(0), "{out}\n{err}");

    let (code, out, err) = confkeep(&["status", "--json"], &data).await;
    assert_eq!(code, Some(0), "{err}");
    let all: StatusResponse = serde_json::from_str(&out).expect("status --json reads");
    assert_eq!(all.devices.len(), 10);
    assert_eq!(all.summary.devices, 10);
    let blocked: Vec<_> = all
        .devices
        .iter()
        .filter(|d| d.phase == PhaseKind::AuthBlocked)
        .collect();
    assert_eq!(
        blocked.len(),
        1,
        "the demo's wrong password blocks one router"
    );
    assert!(blocked[0].tags.iter().any(|t| t == "fault-wrong-password"));

    let (code, out, _) = confkeep(&["status", "--phase", "auth_blocked", "--json"], &data).await;
    assert_eq!(code, Some(0));
    let only: StatusResponse = serde_json::from_str(&out).unwrap();
    assert_eq!(only.devices.len(), 1);
    assert_eq!(only.devices[0].device, blocked[0].device);
    let (_, out, _) = confkeep(&["status", "--tag", "no-such-tag", "--json"], &data).await;
    let none: StatusResponse = serde_json::from_str(&out).unwrap();
    assert!(none.devices.is_empty());
    let (code, _, err) = confkeep(&["status", "--phase", "sleepy"], &data).await;
    assert_eq!(code, Some(2), "clap refuses an unknown phase");
    assert!(err.contains("auth_blocked"), "{err}");

    let device = &blocked[0].device;
    let (code, out, _) = confkeep(&["history", device, "--json", "--limit", "2"], &data).await;
    assert_eq!(code, Some(0));
    let events: Vec<Envelope> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    let (_, out, _) = confkeep(&["history", device, "--after", "2"], &data).await;
    assert!(out.contains("auth_failed"), "{out}");
    let (code, _, err) = confkeep(&["history", "no-such-router"], &data).await;
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("no-such-router"), "{err}");

    let collected = all
        .devices
        .iter()
        .find(|d| d.last_hash.is_some())
        .expect("a backup");
    let (code, out, err) = confkeep(&["diff", &collected.device, "--json"], &data).await;
    let diff: ConfigDiff =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(Some(&diff.new), collected.last_hash.as_ref());
    assert_eq!(code, Some(if diff.diff.is_empty() { 0 } else { 1 }));
    let (code, _, err) = confkeep(&["diff", &collected.device, "ffff0000"], &data).await;
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("ffff0000"), "{err}");
    let (code, _, err) = confkeep(&["status"], &dir.path().join("nowhere")).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("no event log at"), "{err}");
}

async fn api<T: serde::de::DeserializeOwned>(client: &ApiClient, path: &str) -> (u16, T) {
    let (code, body) = client.call("GET", path, None).await.unwrap();
    let parsed = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(&body)));
    (code, parsed)
}

#[tokio::test]
async fn the_api_and_the_log_give_the_same_rows() {
    let fleet = SimFleet::start(FleetSpec::generated(4, 11)).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = common::quiet_daemon_config(dir, "same-rows", fleet.devices(), None);
    let mut daemon = confkeep::daemon::start(config, Arc::new(SystemClock))
        .await
        .unwrap();
    common::until_rows(&mut daemon, "four enrolled", |rows| rows.len() == 4).await;
    let client = ApiClient::plain(&format!("http://{}", daemon.api_addr.unwrap()));
    let (code, _) = client
        .call("POST", "/v1/devices/sim-0002/trigger", None)
        .await
        .unwrap();
    assert_eq!(
        code, 200,
        "a tokenless write on loopback, no token configured"
    );

    let (_, all): (_, StatusResponse) = api(&client, "/v1/status").await;
    let (_, idle): (_, StatusResponse) = api(&client, "/v1/status?phase=idle").await;
    assert_eq!(idle.devices.len(), 1);
    assert_eq!(idle.devices[0].device, "sim-0002");
    let (_, page): (_, DevicesResponse) = api(&client, "/v1/devices?phase=jitter&limit=2").await;
    assert_eq!((page.page.matching, page.page.devices.len()), (3, 2));
    assert_eq!(page.page.next_offset, Some(2));
    assert_eq!(page.summary.devices, 4, "the summary is the whole fleet's");
    let (_, rest): (_, DevicesResponse) =
        api(&client, "/v1/devices?phase=jitter&limit=2&offset=2").await;
    assert_eq!(rest.page.devices.len(), 1);
    assert_eq!(rest.page.next_offset, None);
    let (_, found): (_, DevicesResponse) = api(&client, "/v1/devices?q=SIM-0003").await;
    assert_eq!(found.page.devices.len(), 1, "search ignores case");
    let (code, bad): (_, ErrorBody) = api(&client, "/v1/devices?phase=sleepy").await;
    assert_eq!((code, bad.code.as_str()), (400, "bad_request"));
    assert!(
        bad.error.contains("phase") && bad.error.contains("auth_blocked"),
        "{}",
        bad.error
    );
    let (code, missing): (_, ErrorBody) = api(&client, "/v1/devices/no-such-router").await;
    assert_eq!(code, 404);
    assert!(
        missing.error.contains("no-such-router"),
        "{}",
        missing.error
    );

    daemon.shutdown().await.unwrap();
    fleet.shutdown().await;
    let data = dir.join("data");
    let (code, out, err) = confkeep(&["status", "--json"], &data).await;
    assert_eq!(code, Some(0), "{err}");
    let from_log: StatusResponse = serde_json::from_str(&out).unwrap();
    assert_eq!(from_log.devices, all.devices, "the same rows from the log");
    let (_, out, _) = confkeep(&["status", "--json", "--phase", "idle"], &data).await;
    let idle_from_log: StatusResponse = serde_json::from_str(&out).unwrap();
    assert_eq!(idle_from_log.devices, idle.devices);
}
