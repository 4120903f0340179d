//! What the daemon does on the signals operators send it, as a real
//! process (`confkeep run`) on the embedded store against the simulated
//! fleet served by this test:
//!
//! - SIGHUP re-reads the inventory (here with polling off, so nothing else
//!   can have done it);
//! - SIGTERM stops new attempts, lets a running one finish within the
//!   grace and records it, leaves one that cannot finish to its deadline
//!   (recorded `Running`, settled at the next start), and exits 0.

mod common;
use common::{free_port, read_log, until_api};

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use confkeep::domain::{Event, Outcome, PhaseKind};
use confkeep::testbed::sim_fleet::{Fault, FleetSpec, SimFleet, SimFleetHandle, inventory_toml};

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name}");
}

struct Setup {
    dir: tempfile::TempDir,
    api: String,
    config: std::path::PathBuf,
}

fn setup(fleet: &SimFleetHandle, devices: usize, extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(
        dir.path().join("inventory.toml"),
        inventory_toml(&fleet.devices()[..devices]),
    )
    .unwrap();
    let config = dir.path().join("confkeep.toml");
    std::fs::write(
        &config,
        format!(
            "node = \"signal-test\"\ndata_dir = \"data\"\ninventory = \"inventory.toml\"\n\
             http_listen = \"127.0.0.1:{port}\"\n{extra}\n\
             [policy]\ninterval_secs = 3600\njitter_min_secs = 0\njitter_max_secs = 0\n\
             backoff_secs = [3600]\ncommand_timeout_secs = 30\nmax_concurrent = 10\n"
        ),
    )
    .unwrap();
    Setup {
        dir,
        api: format!("http://127.0.0.1:{port}"),
        config,
    }
}

fn start(setup: &Setup) -> Child {
    let log = std::fs::File::create(setup.dir.path().join("daemon.log")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_confkeep"))
        .arg("run")
        .arg("--config")
        .arg(&setup.config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    for _ in 0..(within.as_millis() / 50) {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("the daemon did not exit within {within:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rereads_the_inventory() {
    let fleet = SimFleet::start(FleetSpec::generated(3, 21)).await.unwrap();
    let setup = setup(&fleet, 2, "inventory_poll_secs = 0");
    let mut child = start(&setup);
    until_api(&setup.api, "two devices backed up", |s| {
        s.devices.len() == 2 && s.summary.backups_succeeded == 2
    })
    .await;
    std::fs::write(
        setup.dir.path().join("inventory.toml"),
        inventory_toml(&fleet.devices()[1..]),
    )
    .unwrap();
    signal(&child, "HUP");
    until_api(
        &setup.api,
        "the third device enrolled, the first retired",
        |s| {
            let phase = |id: &str| s.devices.iter().find(|d| d.device == id).map(|d| d.phase);
            phase(&fleet.devices()[0].id) == Some(PhaseKind::Retired)
                && phase(&fleet.devices()[2].id).is_some_and(|p| p != PhaseKind::Retired)
        },
    )
    .await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP must not stop it"
    );
    signal(&child, "TERM");
    assert!(wait_exit(&mut child, Duration::from_secs(20)).success());
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_running_attempts_finish_within_the_grace() {
    // Device 0 prints its 6 KiB export at 2 KiB/s (done within the grace);
    // device 1 accepts TCP and says nothing (never done).
    let mut spec = FleetSpec::generated(2, 22);
    spec.devices[0].export_bytes = 6 * 1024;
    spec.add_fault(
        0,
        Fault::SlowOutput {
            bytes_per_sec: 2048,
        },
    );
    spec.add_fault(1, Fault::SilentAfterAccept);
    let fleet = SimFleet::start(spec).await.unwrap();
    let setup = setup(
        &fleet,
        2,
        "shutdown_grace_secs = 6\ninventory_poll_secs = 0",
    );
    let mut child = start(&setup);
    until_api(&setup.api, "both attempts running", |s| {
        s.devices.len() == 2 && s.devices.iter().all(|d| d.phase == PhaseKind::Running)
    })
    .await;
    signal(&child, "TERM");
    let exit = wait_exit(&mut child, Duration::from_secs(30));
    assert!(exit.success(), "exit 0 after SIGTERM: {exit:?}");

    let events = read_log(&setup.dir.path().join("data")).await;
    let last = |id: &str| {
        events
            .iter()
            .rfind(|e| e.device.as_str() == id)
            .cloned()
            .unwrap()
    };
    let slow = last(&fleet.devices()[0].id);
    assert!(
        matches!(
            slow.event,
            Event::AttemptFinished {
                outcome: Outcome::Collected { .. },
                ..
            }
        ),
        "the slow attempt finished within the grace and was recorded: {slow:?}"
    );
    let silent = last(&fleet.devices()[1].id);
    assert!(
        matches!(silent.event, Event::TimerFired { .. }),
        "the silent attempt stays recorded as running, for its deadline: {silent:?}"
    );
    assert_eq!(silent.after.map(|a| a.phase), Some(PhaseKind::Running));
    let daemon_log = std::fs::read_to_string(setup.dir.path().join("daemon.log")).unwrap();
    assert!(
        daemon_log.contains("attempts still running at the end of the grace"),
        "{daemon_log}"
    );
    fleet.shutdown().await;
}
