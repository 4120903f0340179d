//! Helpers shared by the integration test targets: private files; waiting
//! on an in-process daemon's status; the event another writer appends; the
//! real exports' folder; keeping a nats-server 2.9 account's stream directory alive; and,
//! for the tests that run the daemon as a real process (`confkeep run`), a
//! free port for its API, its status over HTTP, waiting on it, and reading
//! its embedded log back once it has stopped.
//!
//! Included with `mod common;` by each test target that needs one; a target
//! need not use every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use confkeep::api::StatusResponse;
use confkeep::daemon::Daemon;
use confkeep::domain::{Envelope, Event, Timestamp};
use confkeep::projections::status::DeviceStatus;
use futures::StreamExt;

/// Write a file only its owner may read (mode 600), as a secret must be.
pub fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Wait on the daemon's fold (at most 60 s) until `done` holds for its
/// rows; on a timeout, say what was waited for and show the rows.
pub async fn until_rows(daemon: &mut Daemon, what: &str, done: impl Fn(&[DeviceStatus]) -> bool) {
    let wait = async {
        loop {
            let rows: Vec<DeviceStatus> = daemon.status.lock().unwrap().rows().collect();
            if done(&rows) {
                return;
            }
            if daemon.recorded.changed().await.is_err() {
                panic!("the daemon stopped while waiting for {what}");
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .is_err()
    {
        let rows: Vec<String> = daemon
            .status
            .lock()
            .unwrap()
            .rows()
            .map(|r| format!("{} {:?} {:?}", r.device, r.phase, r.last_error))
            .collect();
        panic!("timed out waiting for {what}: {rows:#?}");
    }
}

/// The default policy, but every device due at enrolment and a 5 s
/// command timeout: a test's fleet is backed up at once.
pub fn prompt_policy() -> confkeep::domain::RetryPolicy {
    confkeep::domain::RetryPolicy {
        jitter_min_secs: 0,
        jitter_max_secs: 0,
        command_timeout_secs: 5,
        ..confkeep::domain::RetryPolicy::default()
    }
}

/// The envelope another writer (`node`) appends right after `last`.
pub fn next_from(last: &Envelope, node: &str, event: Event) -> Envelope {
    Envelope {
        seq: last.seq + 1,
        at: Timestamp(last.at.0 + 1),
        node: node.into(),
        correlation: None,
        event,
        after: None,
        ..last.clone()
    }
}

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The daemon's `/v1/status`, or `None` while it does not answer.
pub async fn status(api: &str) -> Option<StatusResponse> {
    let (code, body) = confkeep::cli::http::call("GET", api, "/v1/status", None)
        .await
        .ok()?;
    (code == 200)
        .then(|| serde_json::from_slice(&body).ok())
        .flatten()
}

/// Poll the child's API (another process: there is no event to await
/// across it) until `done`, for at most 60 s.
pub async fn until_api(api: &str, what: &str, done: impl Fn(&StatusResponse) -> bool) {
    for _ in 0..600 {
        if let Some(s) = status(api).await
            && done(&s)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Every envelope of the embedded log under `data_dir`, in log order.
pub async fn read_log(data_dir: &Path) -> Vec<Envelope> {
    let log = confkeep::store::open(&confkeep::store::StoreConfig::Embedded {
        data_dir: data_dir.to_owned(),
    })
    .await
    .unwrap();
    let mut out = Vec::new();
    let mut stream = log.replay(0);
    while let Some(item) = stream.next().await {
        out.push(item.unwrap().1);
    }
    out
}

/// The real exports' folder: `$CONFKEEP_FIXTURES` (which must then exist),
/// else `../shared/fixtures/routeros` beside the checkout when present.
pub fn fixtures_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CONFKEEP_FIXTURES") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.is_dir(),
            "CONFKEEP_FIXTURES={} is not a folder",
            dir.display()
        );
        return Some(dir);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/routeros");
    dir.is_dir().then_some(dir)
}

/// nats-server 2.9 removes the account's stream directory when its last
/// stream is deleted, and a create racing with that fails ("error creating
/// store for stream"). Tests delete their streams, so one empty stream that
/// nobody deletes keeps the directory there.
pub async fn keep_account_alive(url: &str) {
    let client = async_nats::connect(url).await.unwrap();
    async_nats::jetstream::new(client)
        .get_or_create_stream(async_nats::jetstream::stream::Config {
            name: "CONFKEEP_TESTS_KEEPALIVE".into(),
            subjects: vec!["confkeep-tests.keepalive".into()],
            ..Default::default()
        })
        .await
        .unwrap();
}

/// A daemon's config over `devices` in `dir` (inventory and, with a token,
/// the token file written there), on a loopback port of its own, whose
/// policy runs nothing but what a test triggers.
pub fn quiet_daemon_config(
    dir: &Path,
    node: &str,
    devices: &[confkeep::testbed::sim_fleet::SimDevice],
    token: Option<&str>,
) -> confkeep::effects::config::DaemonConfig {
    write_private(
        &dir.join("inventory.toml"),
        &confkeep::testbed::sim_fleet::inventory_toml(devices),
    );
    if let Some(t) = token {
        write_private(&dir.join("token"), t);
    }
    confkeep::effects::config::DaemonConfig {
        node: Some(node.into()),
        data_dir: dir.join("data"),
        inventory: dir.join("inventory.toml"),
        http_listen: Some("127.0.0.1:0".into()),
        api_token_file: token.map(|_| dir.join("token")),
        inventory_poll_secs: 0,
        policy: confkeep::domain::RetryPolicy {
            jitter_min_secs: 3_000,
            jitter_max_secs: 3_600,
            command_timeout_secs: 5,
            ..confkeep::domain::RetryPolicy::default()
        },
        ..confkeep::effects::config::DaemonConfig::default()
    }
}

/// Run the `confkeep` binary with `args` and `--data-dir dir`: its exit
/// code, standard output and standard error.
pub async fn confkeep_on(args: &[&str], dir: &Path) -> (Option<i32>, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_confkeep"))
        .args(args)
        // The data directory is the source: not a NATS_URL the harness set.
        .env_remove("NATS_URL")
        .arg("--data-dir")
        .arg(dir)
        .output()
        .await
        .expect("confkeep runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Set up a directory for a `confkeep run` child: the fleet's inventory
/// and `config` as `confkeep.toml`; returns the config's path.
pub fn child_dir(
    dir: &Path,
    devices: &[confkeep::testbed::sim_fleet::SimDevice],
    config: &str,
) -> PathBuf {
    write_private(
        &dir.join("inventory.toml"),
        &confkeep::testbed::sim_fleet::inventory_toml(devices),
    );
    let path = dir.join("confkeep.toml");
    write_private(&path, config);
    path
}

/// Start `confkeep run --config config` as a child, its log (info, JSON)
/// into `stderr`.
pub fn spawn_daemon(config: &Path, stderr: &Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_confkeep"))
        .arg("run")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap()
}
