//! `confkeep replay` end to end: the binary against an embedded log and a
//! JetStream stream (real nats-server from `NATS_URL`).

mod common;
use common::keep_account_alive;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use confkeep::domain::{After, DeviceId, Envelope, PhaseKind, TenantId, Timestamp};
use confkeep::store::fold::sample_history;
use confkeep::store::{EmbeddedLog, EventLog, JetStreamConfig, JetStreamLog};

fn confkeep(args: &[&str], nats_url: Option<&str>) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_confkeep"));
    cmd.args(args).env_remove("CONFKEEP_DATA_DIR");
    match nats_url {
        Some(url) => cmd.env("NATS_URL", url),
        None => cmd.env_remove("NATS_URL"),
    };
    cmd.output().expect("run confkeep")
}

fn nats_url() -> String {
    std::env::var("NATS_URL")
        .expect("NATS_URL must point at a nats-server with JetStream (scripts/test starts one)")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn fill(log: &dyn EventLog, devices: usize, per_device: u64) -> Vec<Envelope> {
    let tenant = TenantId::parse("acme").unwrap();
    let mut all = Vec::new();
    for d in 0..devices {
        let device = DeviceId::parse(&format!("router-{d}")).unwrap();
        let history = sample_history(&device, &tenant, Timestamp(1_700_000_000_000), per_device);
        log.append(&device, 0, history.clone()).await.unwrap();
        all.extend(history);
    }
    all
}

fn data_dir_args(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "replay".to_owned(),
        "--data-dir".to_owned(),
        dir.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

fn run_embedded(dir: &Path, extra: &[&str]) -> Output {
    let args = data_dir_args(dir, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    confkeep(&args, None)
}

#[tokio::test]
async fn embedded_replay_verifies_and_reports_differences() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EmbeddedLog::open_dir(dir.path()).unwrap();
        fill(&log, 3, 30).await;
    }
    let out = run_embedded(dir.path(), &["--verify"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("replayed 90 events of 3 devices"),
        "{stdout}"
    );
    assert!(stdout.contains("events/s"), "{stdout}");
    assert!(stdout.contains("two folds agree"), "{stdout}");

    // An event recorded with a decision today's rules do not make.
    {
        let log = EmbeddedLog::open_dir(dir.path()).unwrap();
        let device = DeviceId::parse("router-1").unwrap();
        let tenant = TenantId::parse("acme").unwrap();
        let mut next = sample_history(&device, &tenant, Timestamp(1_700_000_000_000), 31)
            .pop()
            .unwrap();
        next.after = Some(After {
            phase: PhaseKind::AuthBlocked,
            deadline: None,
        });
        log.append(&device, 30, vec![next]).await.unwrap();
    }
    let out = run_embedded(dir.path(), &["--verify"]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("difference: device router-1 sequence 31"),
        "{stdout}"
    );
    assert!(stdout.contains("auth_blocked"), "{stdout}");
    // Without --verify the fold still succeeds.
    assert_eq!(run_embedded(dir.path(), &[]).status.code(), Some(0));
}

#[tokio::test]
async fn embedded_replay_stops_at_an_undecodable_event_unless_told_to_skip() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EmbeddedLog::open_dir(dir.path()).unwrap();
        fill(&log, 2, 10).await;
    }
    {
        let db = redb::Database::create(dir.path().join("events.redb")).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx
                .open_table(redb::TableDefinition::<u64, &[u8]>::new("events"))
                .unwrap();
            t.insert(5, br#"{"schema": 99}"#.as_slice()).unwrap();
        }
        tx.commit().unwrap();
    }
    let out = run_embedded(dir.path(), &[]);
    let (stdout, stderr) = text(&out);
    assert_ne!(out.status.code(), Some(0), "{stdout}");
    assert!(stderr.contains("events key 5"), "{stderr}");
    assert!(stderr.contains("newer"), "{stderr}");
    assert!(stderr.contains("--skip-undecodable"), "{stderr}");

    let out = run_embedded(dir.path(), &["--skip-undecodable"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("events key 5"), "{stderr}");
    assert!(stdout.contains("replayed 19 events"), "{stdout}");
    assert!(stdout.contains("skipped 1 undecodable"), "{stdout}");
}

#[tokio::test]
async fn jetstream_replay_verifies() {
    let url = nats_url();
    keep_account_alive(&url).await;
    let name = format!("REPLAY_CLI_{}", std::process::id());
    let mut config = JetStreamConfig::new(url.clone());
    config.stream = name.clone();
    config.subject_prefix = format!("replaycli.{}", std::process::id());
    // The daemon keeps events a day; replay does not need to know that.
    config.max_age = Some(std::time::Duration::from_secs(86_400));
    let log = JetStreamLog::open(&config).await.unwrap();
    fill(&log, 4, 25).await;
    let out = confkeep(
        &[
            "replay",
            "--verify",
            "--stream",
            &config.stream,
            "--subject-prefix",
            &config.subject_prefix,
        ],
        Some(&url),
    );
    let client = async_nats::connect(url.as_str()).await.unwrap();
    let _ = async_nats::jetstream::new(client)
        .delete_stream(&config.stream)
        .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("replayed 100 events of 4 devices"),
        "{stdout}"
    );
    assert!(stdout.contains(&name), "{stdout}");
}

/// `confkeep replay --connect-timeout-secs 2` against `url` exits 1 naming
/// the server, within the timeout and what starting the binary and printing
/// the error may add to it.
fn assert_clear_error_within_the_timeout(url: &str) {
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
    const MARGIN: Duration = Duration::from_millis(1_500);
    #[allow(clippy::disallowed_methods)] // measuring the real exit time is the point
    let started = std::time::Instant::now();
    let out = confkeep(
        &[
            "replay",
            "--connect-timeout-secs",
            &CONNECT_TIMEOUT.as_secs().to_string(),
        ],
        Some(url),
    );
    let elapsed = started.elapsed();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(url), "{stderr}");
    assert!(elapsed < CONNECT_TIMEOUT + MARGIN, "took {elapsed:?}");
}

#[test]
fn unreachable_nats_is_a_clear_error_not_a_hang() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert_clear_error_within_the_timeout(&format!("nats://127.0.0.1:{port}"));
}

/// A server that accepts connections and never answers: the exit comes at
/// the connect timeout, not later.
#[test]
fn silent_nats_is_a_clear_error_within_the_connect_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts and holds every connection until the test process exits.
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().collect();
        drop(held);
    });
    assert_clear_error_within_the_timeout(&format!("nats://127.0.0.1:{port}"));
}

#[tokio::test]
async fn jetstream_replay_stops_at_an_undecodable_event_unless_told_to_skip() {
    let url = nats_url();
    keep_account_alive(&url).await;
    let mut config = JetStreamConfig::new(url.clone());
    config.stream = format!("REPLAY_CLI_UNDECODABLE_{}", std::process::id());
    config.subject_prefix = format!("replaycli.undecodable.{}", std::process::id());
    let log = JetStreamLog::open(&config).await.unwrap();
    fill(&log, 2, 10).await;
    let client = async_nats::connect(url.as_str()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let bad_subject = format!("{}.acme.router-1", config.subject_prefix);
    let bad_seq = js
        .publish(bad_subject.clone(), "{not json".into())
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence;
    let args = [
        "replay",
        "--stream",
        &config.stream,
        "--subject-prefix",
        &config.subject_prefix,
    ];
    let stopped = confkeep(&args, Some(&url));
    let skipped = confkeep(&[&args[..], &["--skip-undecodable"]].concat(), Some(&url));
    let _ = js.delete_stream(&config.stream).await;

    let (stdout, stderr) = text(&stopped);
    assert_ne!(stopped.status.code(), Some(0), "{stdout}");
    let named = format!("subject {bad_subject}, sequence {bad_seq}");
    assert!(stderr.contains(&named), "{stderr}");
    assert!(stderr.contains(&config.stream), "{stderr}");
    assert!(stderr.contains("--skip-undecodable"), "{stderr}");
    assert!(!stdout.contains("replayed"), "{stdout}");

    let (stdout, stderr) = text(&skipped);
    assert_eq!(skipped.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains(&named), "{stderr}");
    assert!(
        stdout.contains("replayed 20 events of 2 devices"),
        "{stdout}"
    );
    assert!(stdout.contains("skipped 1 undecodable"), "{stdout}");
}

#[test]
fn replay_of_a_missing_stream_says_so_and_creates_nothing() {
    let url = nats_url();
    let stream = format!("REPLAY_MISSING_{}", std::process::id());
    let out = confkeep(&["replay", "--stream", &stream], Some(&url));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("stream {stream} does not exist")),
        "{stderr}"
    );
}

/// A log written by the release before schema 2 (`tests/fixtures/log-v1`:
/// the demo's eight routers, 24 events, written with schema 1) still
/// replays and verifies: old events are upcast on read, and today's rules
/// decide what was decided then.
#[test]
fn a_log_written_by_the_schema_1_release_replays_and_verifies() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/log-v1/events.redb");
    let dir = tempfile::tempdir().unwrap();
    // Opening a redb file writes to it: work on a copy.
    std::fs::copy(&fixture, dir.path().join("events.redb")).unwrap();
    let out = confkeep(
        &[
            "replay",
            "--verify",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("verify: 24 events, every recorded decision matches"),
        "{stdout}"
    );
}
