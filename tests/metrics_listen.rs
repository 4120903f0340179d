//! The platform's metrics on their own listener (`metrics_listen`): the
//! names its dashboards use, no token needed, nothing that changes state,
//! and the blocked devices' skipped ticks counted without ticking them.
//!
//! Its own test binary: the Prometheus recorder is one per process, so no
//! other test's backups are counted here.

mod common;

use std::sync::Arc;
use std::time::Duration;

use confkeep::daemon;
use confkeep::domain::{PhaseKind, RetryPolicy};
use confkeep::effects::config::DaemonConfig;
use confkeep::effects::runner::{Clock, SystemClock};
use confkeep::testbed::sim_fleet::{Fault, FleetSpec, SimFleet, inventory_toml};

const INTERVAL_SECS: u64 = 2;

fn policy() -> RetryPolicy {
    RetryPolicy {
        interval_secs: INTERVAL_SECS,
        jitter_min_secs: 0,
        jitter_max_secs: 0,
        command_timeout_secs: 5,
        ..RetryPolicy::default()
    }
}

/// The value of one sample line (`name{labels} value`) in the scrape.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

async fn scrape(base: &str) -> String {
    let (code, body) = confkeep::cli::http::call("GET", base, "/metrics", None)
        .await
        .unwrap();
    assert_eq!(code, 200);
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platforms_metrics_are_scraped_without_a_token_and_count_blocked_ticks() {
    let mut spec = FleetSpec::generated(3, 7);
    spec.add_fault(0, Fault::WrongPassword);
    let fleet = SimFleet::start(spec).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.toml");
    common::write_private(&inventory, &inventory_toml(fleet.devices()));
    let config = DaemonConfig {
        node: Some("metrics".into()),
        data_dir: dir.path().join("data"),
        inventory,
        metrics_listen: Some("127.0.0.1:0".into()),
        policy: policy(),
        ..DaemonConfig::default()
    };
    let mut daemon = daemon::start(config, Arc::new(SystemClock)).await.unwrap();
    let base = format!("http://{}", daemon.metrics_addr.unwrap());
    let blocked = fleet.devices()[0].id.clone();

    common::until_rows(&mut daemon, "a backup each and one block", |rows| {
        let (done, open) = rows.iter().partition::<Vec<_>, _>(|r| r.device == blocked);
        rows.len() == 3
            && done.iter().all(|r| r.phase == PhaseKind::AuthBlocked)
            && open.iter().all(|r| r.last_success.is_some())
    })
    .await;
    let since = daemon
        .status
        .lock()
        .unwrap()
        .rows()
        .find(|r| r.device == blocked)
        .unwrap()
        .since;

    // Wait until the blocked device has sat through two of its intervals.
    let two_ticks = since.0 + 2 * INTERVAL_SECS * 1000 + 50;
    let wait = two_ticks.saturating_sub(SystemClock.now().0);
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let before = SystemClock.now();
    let text = scrape(&base).await;
    let after = SystemClock.now();
    let ticks = sample(
        &text,
        r#"mikrotik_config_backup_total{status="skipped_auth_blocked"}"#,
    )
    .unwrap_or_else(|| panic!("no skipped_auth_blocked in\n{text}"));
    let lo = (before.0 - since.0) / (INTERVAL_SECS * 1000);
    let hi = (after.0 - since.0) / (INTERVAL_SECS * 1000);
    assert!(
        (lo as f64..=hi as f64).contains(&ticks) && ticks >= 2.0,
        "{ticks} skipped ticks, expected {lo}..={hi}"
    );
    assert_eq!(
        sample(
            &text,
            r#"mikrotik_config_backup_total{status="skipped_hostkey_blocked"}"#
        ),
        Some(0.0)
    );
    let (succeeded, failed, _) = daemon.status.lock().unwrap().backups();
    let success = sample(&text, r#"mikrotik_config_backup_total{status="success"}"#).unwrap();
    assert!(
        success >= 2.0 && success <= succeeded as f64,
        "{success} vs {succeeded}"
    );
    assert_eq!(
        sample(&text, r#"mikrotik_config_backup_total{status="error"}"#),
        Some(failed as f64)
    );
    assert_eq!(failed, 1, "a refused password is tried once");
    assert_eq!(
        sample(
            &text,
            r#"confkeep_backup_failures_total{kind="auth_failed"}"#
        ),
        Some(1.0)
    );
    assert!(text.contains("mikrotik_config_backup_active"), "{text}");
    for le in ["1", "5", "10", "30", "60", "120", "300"] {
        let bucket = format!(r#"mikrotik_config_backup_duration_seconds_bucket{{le="{le}"}}"#);
        assert!(
            sample(&text, &bucket).is_some(),
            "no bucket {le} in\n{text}"
        );
    }
    assert!(!text.contains(&blocked), "a device id in the metrics text");

    // Later, more ticks: the counter grows while nothing is folded.
    let next = since.0 + 3 * INTERVAL_SECS * 1000 + 50;
    tokio::time::sleep(Duration::from_millis(
        next.saturating_sub(SystemClock.now().0),
    ))
    .await;
    let later = sample(
        &scrape(&base).await,
        r#"mikrotik_config_backup_total{status="skipped_auth_blocked"}"#,
    )
    .unwrap();
    assert!(later >= 3.0 && later > ticks, "{later} after {ticks}");

    // Only the scrape and the health probe: no API, no state change.
    for (method, path, want) in [
        ("GET", "/healthz", 200),
        ("GET", "/v1/status", 404),
        (
            "POST",
            &format!("/v1/devices/{blocked}/credentials-updated"),
            404,
        ),
        ("POST", "/metrics", 405),
    ] {
        let (code, body) = confkeep::cli::http::call(method, &base, path, None)
            .await
            .unwrap();
        assert_eq!(
            code,
            want,
            "{method} {path}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let row = daemon
        .status
        .lock()
        .unwrap()
        .rows()
        .find(|r| r.device == blocked)
        .unwrap();
    assert_eq!(row.phase, PhaseKind::AuthBlocked);
    daemon.shutdown().await.unwrap();
}
