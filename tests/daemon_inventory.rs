//! Inventory edits while the daemon runs, and bad configuration at start.
//!
//! Editing the inventory file enrols and retires devices without a restart;
//! a bad edit is refused with file, line and field, and the last good
//! inventory stays in force; a bad inventory or an unusable data directory
//! at start-up stops the daemon before anything is recorded.

mod common;

use std::sync::Arc;
use std::time::Duration;

use confkeep::daemon::{self, Daemon, InventoryReloads};
use confkeep::domain::PhaseKind;
use confkeep::effects::config::{DaemonConfig, SshConfig};
use confkeep::effects::runner::SystemClock;
use confkeep::projections::status::DeviceStatus;
use confkeep::testbed::sim_fleet::{Fault, FleetSpec, SimFleet, inventory_toml};

fn config(dir: &std::path::Path) -> DaemonConfig {
    DaemonConfig {
        node: Some("inventory-test".into()),
        data_dir: dir.join("data"),
        inventory: dir.join("inventory.toml"),
        http_listen: None,
        shutdown_grace_secs: 2,
        inventory_poll_secs: 2,
        nats: None,
        redis: None,
        ssh: SshConfig::default(),
        policy: common::prompt_policy(),
        ..DaemonConfig::default()
    }
}

async fn until_reload(
    daemon: &mut Daemon,
    done: impl Fn(&InventoryReloads) -> bool,
) -> InventoryReloads {
    let wait = async {
        loop {
            let now = daemon.inventory_reloads.borrow().clone();
            if done(&now) {
                return now;
            }
            daemon
                .inventory_reloads
                .changed()
                .await
                .expect("watcher running");
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("timed out waiting for the inventory to be re-read")
}

fn phase(rows: &[DeviceStatus], id: &str) -> Option<PhaseKind> {
    rows.iter().find(|r| r.device == id).map(|r| r.phase)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_inventory_enrols_and_retires_without_a_restart() {
    let fleet = SimFleet::start(FleetSpec::generated(3, 5)).await.unwrap();
    let d = fleet.devices();
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.toml");
    std::fs::write(&inventory, inventory_toml(&d[..2])).unwrap();
    let mut daemon = daemon::start(config(dir.path()), Arc::new(SystemClock))
        .await
        .unwrap();
    let (a, b, c) = (d[0].id.clone(), d[1].id.clone(), d[2].id.clone());
    common::until_rows(&mut daemon, "the first two backed up", |rows| {
        phase(rows, &a) == Some(PhaseKind::Idle) && phase(rows, &b) == Some(PhaseKind::Idle)
    })
    .await;

    // A bad edit (a duplicate id) that would also have dropped device a:
    // refused, with the file, line and field; nothing changes.
    let mut bad = inventory_toml(&d[1..3]);
    bad.push_str(&inventory_toml(&d[2..3]).replace("# Inventory", "# again"));
    std::fs::write(&inventory, &bad).unwrap();
    let r = until_reload(&mut daemon, |r| r.refused >= 1).await;
    let why = r.last_error.unwrap();
    assert!(
        why.contains("inventory.toml") && why.contains("line") && why.contains("`id`"),
        "{why}"
    );
    assert!(why.contains("duplicate"), "{why}");
    assert_eq!(r.applied, 0);

    // A good edit: a is retired, c is enrolled and backed up; b is left alone.
    std::fs::write(&inventory, inventory_toml(&d[1..3])).unwrap();
    common::until_rows(&mut daemon, "a retired and c backed up", |rows| {
        phase(rows, &a) == Some(PhaseKind::Retired) && phase(rows, &c) == Some(PhaseKind::Idle)
    })
    .await;
    let rows: Vec<DeviceStatus> = daemon.status.lock().unwrap().rows().collect();
    let b_row = rows.iter().find(|r| r.device == b).unwrap();
    assert_eq!(b_row.phase, PhaseKind::Idle);
    assert_eq!(
        b_row.seq, 3,
        "b was not re-enrolled: enrolled, timer, result"
    );
    daemon.shutdown().await.unwrap();
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_password_in_the_inventory_unblocks_the_device() {
    let mut spec = FleetSpec::generated(2, 6);
    spec.add_fault(0, Fault::WrongPassword);
    let fleet = SimFleet::start(spec).await.unwrap();
    let d = fleet.devices();
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.toml");
    std::fs::write(&inventory, inventory_toml(d)).unwrap();
    let mut daemon = daemon::start(config(dir.path()), Arc::new(SystemClock))
        .await
        .unwrap();
    let (blocked, fine) = (d[0].id.clone(), d[1].id.clone());
    common::until_rows(&mut daemon, "the wrong password blocked", |rows| {
        phase(rows, &blocked) == Some(PhaseKind::AuthBlocked)
            && phase(rows, &fine) == Some(PhaseKind::Idle)
    })
    .await;
    let connections = d[0].connections();

    // The operator writes the router's new password into the inventory.
    let fixed = inventory_toml(d).replace(
        &format!("password = \"{}\"", d[0].password),
        &format!("password = \"{}-rotated\"", d[0].password),
    );
    assert_ne!(fixed, inventory_toml(d));
    std::fs::write(&inventory, fixed).unwrap();
    common::until_rows(
        &mut daemon,
        "the device backed up with its new password",
        |rows| {
            rows.iter()
                .any(|r| r.device == blocked && r.phase == PhaseKind::Idle && r.last_hash.is_some())
        },
    )
    .await;
    assert_eq!(
        d[0].connections(),
        connections + 1,
        "exactly one login after the fix, none while blocked"
    );
    let history: Vec<_> = {
        use futures::StreamExt;
        let device = confkeep::domain::DeviceId::parse(&blocked).unwrap();
        daemon.log.device_history(&device).collect().await
    };
    assert!(
        history.iter().any(|e| matches!(
            e.as_ref().map(|e| &e.event),
            Ok(confkeep::domain::Event::CredentialsUpdated)
        )),
        "the fix is in the audit trail"
    );
    // The untouched device got no CredentialsUpdated.
    let rows: Vec<DeviceStatus> = daemon.status.lock().unwrap().rows().collect();
    assert_eq!(rows.iter().find(|r| r.device == fine).unwrap().seq, 3);
    daemon.shutdown().await.unwrap();
    fleet.shutdown().await;
}

#[tokio::test]
async fn a_bad_inventory_or_data_dir_stops_the_daemon_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("inventory.toml"),
        "[[device]]\nid = \"r1\"\nhost = \"192.0.2.1\"\nport = 0\nuser = \"u\"\npassword = \"p\"\n",
    )
    .unwrap();
    let err = daemon::start(config(dir.path()), Arc::new(SystemClock))
        .await
        .err()
        .expect("a bad inventory must stop the start")
        .to_string();
    assert!(
        err.contains("inventory.toml") && err.contains("line 4") && err.contains("`port`"),
        "{err}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing recorded before the check"
    );

    std::fs::write(
        dir.path().join("inventory.toml"),
        "[[device]]\nid = \"r1\"\nhost = \"192.0.2.1\"\nuser = \"u\"\npassword = \"p\"\n",
    )
    .unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "a file").unwrap();
    let mut cfg = config(dir.path());
    cfg.data_dir = blocker.join("data");
    let err = format!(
        "{:#}",
        daemon::start(cfg, Arc::new(SystemClock))
            .await
            .err()
            .expect("an unusable data directory must stop the start")
    );
    assert!(err.contains("not-a-dir"), "{err}");
}
