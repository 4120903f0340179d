//! Configs in git from a running daemon: a first backup, a change and an
//! unchanged backup make two commits for the router, `git log -p` (the git
//! command an Oxidized user types) shows the change, a restart commits
//! nothing twice, and a repository that cannot be written stops no backup.

mod common;

use std::sync::Arc;
use std::time::Duration;

use confkeep::cli::http::ApiClient;
use confkeep::daemon::Daemon;
use confkeep::effects::config::{DaemonConfig, GitConfig};
use confkeep::effects::runner::SystemClock;
use confkeep::testbed::sim_fleet::{FleetSpec, SimFleet};

async fn start(config: &DaemonConfig) -> (Daemon, ApiClient) {
    let mut daemon = confkeep::daemon::start(config.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    common::until_rows(&mut daemon, "two enrolled", |rows| rows.len() == 2).await;
    let api = ApiClient::plain(&format!("http://{}", daemon.api_addr.unwrap()));
    (daemon, api)
}

/// Trigger a backup and answer the hash it collected.
async fn trigger(api: &ApiClient, device: &str) -> String {
    let (code, body) = api
        .call("POST", &format!("/v1/devices/{device}/trigger"), None)
        .await
        .unwrap();
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    body["sha256"]
        .as_str()
        .expect("a success names its hash")
        .to_owned()
}

/// The trigger answers once the runner recorded the result; the board
/// (and so git's target position) follows the log a moment later.
async fn until_board_holds(daemon: &mut Daemon, device: &str, hash: &str) {
    common::until_rows(daemon, &format!("{device} at {hash}"), |rows| {
        rows.iter()
            .any(|r| r.device == device && r.last_hash.as_deref() == Some(hash))
    })
    .await;
}

/// Wait until the repository holds the log up to where the board is.
async fn until_committed(daemon: &mut Daemon) {
    let at = daemon.status.lock().unwrap().checkpoint();
    let wait = async {
        while *daemon.git_written.borrow_and_update() < at {
            daemon.git_written.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("git caught up with the log");
}

fn seq_of(daemon: &Daemon, device: &str) -> u64 {
    let board = daemon.status.lock().unwrap();
    board
        .rows()
        .find(|r| r.device == device)
        .map_or(0, |r| r.seq)
}

fn git(repo: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn one_commit_per_changed_config_and_git_log_shows_the_change() {
    let fleet = SimFleet::start(FleetSpec::generated(2, 21)).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut config = common::quiet_daemon_config(tmp.path(), "git", fleet.devices(), None);
    config.git = Some(GitConfig {
        path: "configs.git".into(),
    });
    let repo = config.data_dir.join("configs.git");
    let (mut daemon, api) = start(&config).await;
    trigger(&api, "sim-0001").await;
    trigger(&api, "sim-0001").await;
    fleet.device("sim-0001").unwrap().edit_config();
    let changed = trigger(&api, "sim-0001").await;
    let second = trigger(&api, "sim-0002").await;
    until_board_holds(&mut daemon, "sim-0001", &changed).await;
    until_board_holds(&mut daemon, "sim-0002", &second).await;
    until_committed(&mut daemon).await;

    let subjects = git(&repo, &["log", "--format=%s"]);
    let subjects: Vec<&str> = subjects.lines().collect();
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    assert!(
        subjects[0].starts_with("demo/sim-0002: first backup (sha256 "),
        "{subjects:?}"
    );
    assert!(
        subjects[1].starts_with("demo/sim-0001: changed (sha256 "),
        "{subjects:?}"
    );
    assert!(subjects[1].ends_with(", attempt 3)"), "{subjects:?}");
    let patch = git(&repo, &["log", "-p", "-1", "--skip=1"]);
    assert!(patch.contains("demo/sim-0001.rsc"), "{patch}");
    assert!(
        patch
            .lines()
            .any(|l| l.starts_with('+') && !l.starts_with("+++")),
        "{patch}"
    );
    assert!(patch.contains("Log-Position: "), "{patch}");

    // A restart goes on after the last commit.
    daemon.shutdown().await.unwrap();
    let (mut daemon, api) = start(&config).await;
    let before = seq_of(&daemon, "sim-0002");
    trigger(&api, "sim-0002").await;
    common::until_rows(&mut daemon, "the unchanged backup folded", |rows| {
        rows.iter()
            .any(|r| r.device == "sim-0002" && r.seq > before)
    })
    .await;
    until_committed(&mut daemon).await;
    assert_eq!(git(&repo, &["rev-list", "--count", "HEAD"]).trim(), "3");
    daemon.shutdown().await.unwrap();

    // A repository that cannot be written: said once, backups go on.
    let blocked = tmp.path().join("not-a-directory");
    std::fs::write(&blocked, "a file").unwrap();
    let mut broken = config.clone();
    broken.git = Some(GitConfig { path: blocked });
    let (daemon, api) = start(&broken).await;
    fleet.device("sim-0002").unwrap().edit_config();
    trigger(&api, "sim-0002").await;
    assert!(daemon.snapshots.is_some());
    daemon.shutdown().await.unwrap();
    fleet.shutdown().await;
}
