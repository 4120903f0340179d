//! Notifications from a running daemon to a real HTTP receiver (an axum
//! server in the test) and an exec hook: a changed config, a block and a
//! recovery, each told once; the receiver down at first is retried; a
//! receiver that never answers is reported and holds up nothing; a restart
//! tells nothing twice.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::routing::post;
use confkeep::api::StatusResponse;
use confkeep::cli::http::ApiClient;
use confkeep::daemon::Daemon;
use confkeep::daemon::notify::Tries;
use confkeep::effects::config::{DaemonConfig, NotifyConfig};
use confkeep::effects::runner::SystemClock;
use confkeep::testbed::sim_fleet::{Fault, FleetSpec, SimFleet};
use serde_json::Value;
use tokio::sync::mpsc;

/// A webhook receiver that refuses its first request (503) and hands the
/// bodies it accepts to the test.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let calls = Arc::new(AtomicU32::new(0));
    let app = axum::Router::new().route(
        "/hook",
        post(move |Json(body): Json<Value>| {
            let (tx, calls) = (tx.clone(), calls.clone());
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                let _ = tx.send(body);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Value>, what: &str) -> Value {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no {what} notification within 30 s"))
        .unwrap()
}

async fn until_tries(daemon: &mut Daemon, what: &str, done: impl Fn(Tries) -> bool) {
    let wait = async {
        while !done(*daemon.notified.borrow_and_update()) {
            daemon.notified.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

fn receivers(url: &str, silent: &str, hook_log: &Path) -> Vec<NotifyConfig> {
    let line = format!(
        "printf '%s %s %s\\n' \"$CONFKEEP_EVENT\" \"$CONFKEEP_DEVICE\" \"$CONFKEEP_DIFF_ADDED\" >> {}",
        hook_log.display()
    );
    let base = NotifyConfig {
        name: None,
        webhook: None,
        exec: None,
        events: None,
        timeout_secs: 5,
    };
    vec![
        NotifyConfig {
            name: Some("hook".into()),
            webhook: Some(url.into()),
            ..base.clone()
        },
        NotifyConfig {
            name: Some("script".into()),
            exec: Some(vec!["/bin/sh".into(), "-c".into(), line]),
            ..base.clone()
        },
        NotifyConfig {
            name: Some("silent".into()),
            webhook: Some(silent.into()),
            timeout_secs: 1,
            ..base
        },
    ]
}

async fn start(config: &DaemonConfig) -> (Daemon, ApiClient) {
    let mut daemon = confkeep::daemon::start(config.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    common::until_rows(&mut daemon, "three enrolled", |rows| rows.len() == 3).await;
    let api = ApiClient::plain(&format!("http://{}", daemon.api_addr.unwrap()));
    (daemon, api)
}

async fn post_ok(api: &ApiClient, path: &str, want: u16) {
    let (code, body) = api.call("POST", path, None).await.unwrap();
    assert_eq!(code, want, "{path}: {}", String::from_utf8_lossy(&body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_blocks_and_recoveries_are_told_once_and_retried_when_down() {
    let mut spec = FleetSpec::generated(3, 9);
    spec.add_fault(1, Fault::WrongPassword);
    let fleet = SimFleet::start(spec).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (url, mut rx) = receiver().await;
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/never", silent.local_addr().unwrap());
    let hook_log = tmp.path().join("hook.log");
    let mut config = common::quiet_daemon_config(tmp.path(), "notify", fleet.devices(), None);
    config.notify = receivers(&url, &silent_url, &hook_log);
    let (mut daemon, api) = start(&config).await;

    post_ok(&api, "/v1/devices/sim-0001/trigger", 200).await;
    fleet.device("sim-0001").unwrap().edit_config();
    post_ok(&api, "/v1/devices/sim-0001/trigger", 200).await;
    let changed = next(&mut rx, "config.changed").await;
    assert_eq!(changed["event"], "config.changed");
    assert_eq!(changed["device"], "sim-0001");
    assert_ne!(changed["old_hash"], changed["new_hash"]);
    assert!(changed["diff"]["added"].as_u64().unwrap() >= 1, "{changed}");
    assert!(
        changed.get("config_text").is_none(),
        "no config text in a notification"
    );

    post_ok(&api, "/v1/devices/sim-0002/trigger", 502).await;
    let blocked = next(&mut rx, "device.blocked").await;
    assert_eq!(
        (blocked["event"].as_str(), blocked["phase"].as_str()),
        (Some("device.blocked"), Some("auth_blocked"))
    );
    assert!(
        blocked["reason"].as_str().unwrap().contains("auth"),
        "{blocked}"
    );
    // Every backup went on while "silent" held its first notification.
    fleet.device("sim-0002").unwrap().set_faults(vec![]);
    post_ok(&api, "/v1/devices/sim-0002/credentials-updated", 202).await;
    // Credentials updated: the next attempt is due at once.
    let recovered = next(&mut rx, "device.recovered").await;
    assert_eq!(recovered["event"], "device.recovered");
    assert_eq!(recovered["device"], "sim-0002");

    until_tries(
        &mut daemon,
        "three told to each of two, silent failing",
        |t| t.delivered >= 6 && t.failed >= 2,
    )
    .await;
    let (_, body) = api.call("GET", "/v1/status", None).await.unwrap();
    let status: StatusResponse = serde_json::from_slice(&body).unwrap();
    let by_name = |n: &str| {
        status
            .summary
            .notifications
            .iter()
            .find(|r| r.name == n)
            .unwrap()
            .clone()
    };
    let (hook, quiet) = (by_name("hook"), by_name("silent"));
    assert_eq!(hook.delivered, 3);
    assert!(
        hook.failed_tries >= 1,
        "the first try was refused: {hook:?}"
    );
    assert_eq!(quiet.delivered, 0);
    assert!(
        quiet.pending >= 1 && quiet.last_error.as_deref() == Some("no answer within 1 s"),
        "{quiet:?}"
    );
    let lines = std::fs::read_to_string(&hook_log).unwrap();
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with("config.changed sim-0001 ") && !lines[0].ends_with(' '),
        "{lines:?}"
    );
    assert_eq!(lines[1].trim(), "device.blocked sim-0002");
    assert_eq!(lines[2].trim(), "device.recovered sim-0002");

    // A restart tells nothing twice: the next notification is a new one.
    daemon.shutdown().await.unwrap();
    let (mut daemon, api) = start(&config).await;
    post_ok(&api, "/v1/devices/sim-0001/trigger", 200).await;
    fleet.device("sim-0001").unwrap().edit_config();
    post_ok(&api, "/v1/devices/sim-0001/trigger", 200).await;
    let after = next(&mut rx, "config.changed after the restart").await;
    assert_eq!(after["event"], "config.changed");
    assert_eq!(
        after["old_hash"], changed["new_hash"],
        "the change after the restart"
    );
    until_tries(&mut daemon, "the script told too", |t| t.delivered >= 2).await;
    let lines = std::fs::read_to_string(&hook_log).unwrap();
    assert_eq!(lines.lines().count(), 4, "{lines}");
    assert!(rx.try_recv().is_err(), "nothing told twice");
    drop(silent);
    daemon.shutdown().await.unwrap();
    fleet.shutdown().await;
}
