//! End to end in embedded mode: the real daemon (log, runner, SSH collector,
//! snapshot files, HTTP API) against the simulated RouterOS fleet.
//!
//! Every device reaches a snapshot or the right blocked phase; the hashes
//! are those `confkeep normalize --hash` gives for the served export; the
//! trigger API answers as documented; snapshot files are private.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use confkeep::daemon;
use confkeep::domain::{PhaseKind, RetryPolicy};
use confkeep::effects::config::{DaemonConfig, SshConfig};
use confkeep::effects::runner::SystemClock;
use confkeep::projections::status::DeviceStatus;
use confkeep::testbed::sim_fleet::{Fault, FleetSpec, SimFleet, inventory_toml};

fn policy() -> RetryPolicy {
    RetryPolicy {
        interval_secs: 3_600,
        jitter_min_secs: 0,
        jitter_max_secs: 1,
        backoff_secs: vec![600],
        command_timeout_secs: 3,
        deadline_grace_secs: 2,
        max_concurrent: 4,
        offline_recheck_secs: 600,
        lock_held_retry_secs: 600,
    }
}

fn normalize_hash_cli(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.rsc");
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_confkeep"))
        .args(["normalize", "--hash"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "normalize failed: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_backs_up_a_simulated_fleet() {
    let mut spec = FleetSpec::generated(10, 42);
    spec.add_fault(1, Fault::WrongPassword);
    spec.add_fault(2, Fault::RouterOs6);
    spec.add_fault(3, Fault::HostKeyReplaced { after: 1 });
    spec.add_fault(4, Fault::SilentAfterAccept);
    let fleet = SimFleet::start(spec).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.toml");
    std::fs::write(&inventory, inventory_toml(fleet.devices())).unwrap();
    std::fs::set_permissions(&inventory, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = DaemonConfig {
        node: Some("e2e".into()),
        data_dir: dir.path().join("data"),
        inventory,
        http_listen: Some("127.0.0.1:0".into()),
        shutdown_grace_secs: 5,
        inventory_poll_secs: 2,
        nats: None,
        redis: None,
        ssh: SshConfig::default(),
        policy: policy(),
        ..DaemonConfig::default()
    };
    let mut daemon = daemon::start(config, Arc::new(SystemClock)).await.unwrap();
    let api = format!("http://{}", daemon.api_addr.unwrap());

    // Everyone settles: a snapshot, AuthBlocked, or a timeout in Backoff.
    common::until_rows(&mut daemon, "every device to settle", |rows| {
        rows.len() == 10
            && rows.iter().all(|r| {
                matches!(
                    r.phase,
                    PhaseKind::Idle | PhaseKind::AuthBlocked | PhaseKind::Backoff
                )
            })
    })
    .await;

    let rows: Vec<DeviceStatus> = daemon.status.lock().unwrap().rows().collect();
    let files = daemon.snapshots.clone().unwrap();
    for (row, device) in rows.iter().zip(fleet.devices()) {
        assert_eq!(row.device, device.id);
        match device.faults.first().map(|f| f.name()) {
            Some("wrong-password") => {
                assert_eq!(row.phase, PhaseKind::AuthBlocked, "{row:?}");
                assert_eq!(row.last_error.as_ref().unwrap().kind, "auth_failed");
                assert_eq!(
                    device.connections(),
                    1,
                    "a refused password is never retried"
                );
            }
            Some("silent-after-accept") => {
                assert_eq!(row.phase, PhaseKind::Backoff, "{row:?}");
                assert_eq!(row.last_error.as_ref().unwrap().kind, "timeout");
            }
            _ => {
                assert_eq!(row.phase, PhaseKind::Idle, "{row:?}");
                let hash = row.last_hash.clone().unwrap();
                let served = device.export_text_at(1_700_000_000_000);
                assert_eq!(hash, normalize_hash_cli(&served), "{}", device.id);
                assert_eq!(hash, device.expected_hash());
                assert_eq!(
                    row.trusted_host_key.as_deref(),
                    Some(device.host_key_fingerprint.as_str())
                );
                let tenant = confkeep::domain::TenantId::parse(&row.tenant).unwrap();
                let id = confkeep::domain::DeviceId::parse(&row.device).unwrap();
                let path = files.path_of(&tenant, &id, &hash);
                let mode = std::fs::metadata(&path).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", path.display());
            }
        }
    }

    // A trigger of the swapped-key router: the new key is refused before any
    // password is sent, and the device is blocked until an operator acts.
    let swapped = &fleet.devices()[3];
    let (code, body) = confkeep::cli::http::call(
        "POST",
        &api,
        &format!("/v1/devices/{}/trigger", swapped.id),
        None,
    )
    .await
    .unwrap();
    let body = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(code, 502, "{body}");
    assert!(body.contains("host_key_mismatch"), "{body}");
    let (code, body) = confkeep::cli::http::call(
        "POST",
        &api,
        &format!("/v1/devices/{}/trigger", swapped.id),
        None,
    )
    .await
    .unwrap();
    assert_eq!(code, 423, "{}", String::from_utf8_lossy(&body));
    let (code, _) = confkeep::cli::http::call("POST", &api, "/v1/devices/nope/trigger", None)
        .await
        .unwrap();
    assert_eq!(code, 404);

    // The operator accepts the new key: the device is backed up again.
    let fp = swapped.replacement_host_key_fingerprint.clone().unwrap();
    let accepted_at = confkeep::effects::runner::Clock::now(&SystemClock);
    let (code, _) = confkeep::cli::http::call(
        "POST",
        &api,
        &format!("/v1/devices/{}/host-key/accept", swapped.id),
        Some(serde_json::json!({ "fingerprint": fp })),
    )
    .await
    .unwrap();
    assert_eq!(code, 202);
    let id = swapped.id.clone();
    common::until_rows(
        &mut daemon,
        "the swapped router to be backed up again",
        |rows| {
            rows.iter().any(|r| {
                // Accepting the key alone already leads to Idle (due now):
                // wait for the backup that follows it.
                r.device == id
                    && r.phase == PhaseKind::Idle
                    && r.trusted_host_key.as_deref() == Some(fp.as_str())
                    && r.last_success.is_some_and(|t| t >= accepted_at)
            })
        },
    )
    .await;

    // History names what happened, in order, with what it led to.
    let (code, body) = confkeep::cli::http::call(
        "GET",
        &api,
        &format!("/v1/devices/{}/history", swapped.id),
        None,
    )
    .await
    .unwrap();
    assert_eq!(code, 200);
    let page: confkeep::api::HistoryPageResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(page.next_after, None, "one page holds a short history");
    let events = page.events;
    // The same trail, two events a page: nothing lost, nothing twice.
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let (code, body) = confkeep::cli::http::call(
            "GET",
            &api,
            &format!("/v1/devices/{}/history?after={after}&limit=2", swapped.id),
            None,
        )
        .await
        .unwrap();
        assert_eq!(code, 200);
        let page: confkeep::api::HistoryPageResponse = serde_json::from_slice(&body).unwrap();
        assert!(page.events.len() <= 2);
        paged.extend(page.events.into_iter().map(|e| e.seq));
        match page.next_after {
            Some(n) => after = n,
            None => break,
        }
    }
    assert!(paged.len() >= events.len(), "{paged:?}");
    assert!(
        paged.iter().enumerate().all(|(i, s)| *s == i as u64 + 1),
        "{paged:?}"
    );
    let phases: Vec<PhaseKind> = events
        .iter()
        .map(|e| e.after.as_ref().unwrap().phase)
        .collect();
    assert!(phases.contains(&PhaseKind::HostKeyBlocked), "{phases:?}");
    assert_eq!(phases.last(), Some(&PhaseKind::Idle));
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
    }

    let report = daemon.shutdown().await.unwrap();
    assert!(report.attempts_started >= 10, "{report:?}");
    fleet.shutdown().await;
}
