//! Checkpoints from a running daemon, embedded and on JetStream: written
//! while it runs and at shutdown, taken up at the next start (only the
//! tail is folded, and the board is the one a full fold gives), skipped
//! with a reason when corrupt, truncated, of other rules or of another log,
//! and never half-written by a kill -9.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use confkeep::daemon::Daemon;
use confkeep::domain::{PhaseKind, RULES_VERSION, Timestamp};
use confkeep::effects::config::{DaemonConfig, NatsConfig};
use confkeep::effects::runner::SystemClock;
use confkeep::projections::status::{CHECKPOINT_FORMAT, StatusBoard};
use confkeep::store::EventLog;
use confkeep::store::checkpoint::CheckpointMeta;
use confkeep::testbed::sim_fleet::{Fault, FleetSpec, SimFleet};
use futures::StreamExt;

async fn start(config: &DaemonConfig) -> Daemon {
    confkeep::daemon::start(config.clone(), Arc::new(SystemClock))
        .await
        .unwrap()
}

async fn settled(daemon: &mut Daemon, n: usize) {
    common::until_rows(daemon, "the fleet to settle", |rows| {
        rows.len() == n
            && rows
                .iter()
                .all(|r| matches!(r.phase, PhaseKind::Idle | PhaseKind::AuthBlocked))
    })
    .await;
}

async fn until_checkpointed(daemon: &mut Daemon) {
    let wait = async {
        while *daemon.checkpointed.borrow_and_update() == 0 {
            daemon.checkpointed.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .expect("a checkpoint was written");
}

/// The board a fold of the log from its start up to `upto` gives.
async fn full_fold(log: &dyn EventLog, upto: u64) -> StatusBoard {
    let mut board = StatusBoard::new();
    let mut stream = log.replay(0);
    while let Some(item) = stream.next().await {
        let (global, env) = item.unwrap();
        if global > upto {
            break;
        }
        board.apply(global, &env);
    }
    board
}

/// The daemon's board (as it is now, wherever its fold is) is what a full
/// fold of the log up to the same position gives.
async fn assert_board_is_the_logs(daemon: &Daemon) {
    let board = daemon.status.lock().unwrap().clone();
    let full = full_fold(daemon.log.as_ref(), board.checkpoint()).await;
    assert_same_board(&board, &full);
}

/// The restarted daemon's board is the full fold's, in everything an
/// operator or Prometheus reads.
fn assert_same_board(restored: &StatusBoard, full: &StatusBoard) {
    let now = Timestamp(u64::MAX / 4);
    let rows = |b: &StatusBoard| b.rows().collect::<Vec<_>>();
    assert_eq!(rows(restored), rows(full));
    let summary = |b: &StatusBoard| {
        let mut s = b.summary(now);
        s.health = Default::default();
        s.notifications.clear();
        s
    };
    assert_eq!(summary(restored), summary(full));
    assert_eq!(restored.finished(), full.finished());
    assert_eq!(restored.coverage(now), full.coverage(now));
    for block in [
        confkeep::projections::blocked_ticks::Block::Auth,
        confkeep::projections::blocked_ticks::Block::HostKey,
    ] {
        assert_eq!(
            restored.blocked_ticks(block, now),
            full.blocked_ticks(block, now)
        );
    }
    assert_eq!(restored.slots(), full.slots());
}

fn fleet_spec() -> FleetSpec {
    let mut spec = FleetSpec::generated(6, 31);
    spec.add_fault(5, Fault::WrongPassword);
    spec
}

fn checkpointing(mut config: DaemonConfig) -> DaemonConfig {
    config.policy = common::prompt_policy();
    config.history.checkpoint_every_events = 5;
    config.history.checkpoint_every_secs = 0;
    config.history.checkpoints_kept = 2;
    config
}

/// Run a fleet to settled, stop, restart: the restart takes up the
/// shutdown's checkpoint and folds nothing.
async fn run_then_restart(config: &DaemonConfig) -> (Daemon, CheckpointMeta) {
    let mut daemon = start(config).await;
    assert_eq!(daemon.restored, None, "a fresh log has no checkpoint");
    settled(&mut daemon, 6).await;
    until_checkpointed(&mut daemon).await;
    let folded = daemon.status.lock().unwrap().checkpoint();
    let log = daemon.log.clone();
    daemon.shutdown().await.unwrap();
    let store = log.checkpoints().unwrap();
    let kept = store.list().await.unwrap();
    assert_eq!(kept.len(), 2, "checkpoints_kept = 2: {kept:?}");
    let newest = kept[0].clone();
    assert_eq!(
        newest.position, folded,
        "shutdown checkpoints what was folded"
    );
    assert_eq!(
        (newest.rules, newest.format),
        (RULES_VERSION, CHECKPOINT_FORMAT)
    );
    drop((log, store));

    let daemon = start(config).await;
    let restored = daemon.restored.clone().expect("the checkpoint is taken up");
    assert_eq!((restored.position, restored.devices), (folded, 6));
    assert_eq!(daemon.replayed_events, 0, "only the tail is folded");
    assert_board_is_the_logs(&daemon).await;
    (daemon, newest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_checkpoints_are_taken_up_and_bad_ones_skipped() {
    let fleet = SimFleet::start(fleet_spec()).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = checkpointing(common::quiet_daemon_config(
        tmp.path(),
        "cp",
        fleet.devices(),
        None,
    ));
    let (daemon, good) = run_then_restart(&config).await;

    // Newer checkpoints that must not be used: a body that is not the one
    // its meta was made for, a truncated one, other rules, and one that
    // does not decode.
    let store = daemon.log.checkpoints().unwrap();
    let body = store.load(&good).await.unwrap();
    let at = |n: u64| good.position + n;
    let mut corrupt = body.clone();
    corrupt[body.len() / 2] ^= 0x55;
    let bad = [
        (
            CheckpointMeta::of(
                &body,
                at(1),
                RULES_VERSION,
                CHECKPOINT_FORMAT,
                "embedded",
                0,
            ),
            corrupt,
        ),
        (
            CheckpointMeta::of(
                &body,
                at(2),
                RULES_VERSION,
                CHECKPOINT_FORMAT,
                "embedded",
                0,
            ),
            body[..body.len() - 9].to_vec(),
        ),
        (
            CheckpointMeta::of(
                &body,
                at(3),
                RULES_VERSION + 1,
                CHECKPOINT_FORMAT,
                "embedded",
                0,
            ),
            body.clone(),
        ),
        (
            CheckpointMeta::of(
                b"not gzip",
                at(4),
                RULES_VERSION,
                CHECKPOINT_FORMAT,
                "embedded",
                0,
            ),
            b"not gzip".to_vec(),
        ),
    ];
    for (meta, body) in bad {
        store.save(meta, body).await.unwrap();
    }
    drop(store);
    daemon.shutdown().await.unwrap();

    let daemon = start(&config).await;
    let restored = daemon.restored.clone().expect("the good one is taken up");
    assert_eq!((restored.position, restored.skipped), (good.position, 4));
    assert_board_is_the_logs(&daemon).await;
    daemon.shutdown().await.unwrap();
    fleet.shutdown().await;
}

fn nats_url() -> String {
    std::env::var("NATS_URL")
        .expect("NATS_URL must point at nats-server with JetStream (scripts/test starts one)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_checkpoints_are_taken_up_and_not_by_a_recreated_stream() {
    common::keep_account_alive(&nats_url()).await;
    let fleet = SimFleet::start(fleet_spec()).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let tag = format!("CP{}", std::process::id());
    let mut nats = NatsConfig::new(nats_url());
    nats.stream = format!("EVENTS_{tag}");
    nats.subject_prefix = format!("{tag}.backup.events");
    nats.snapshot_subject = format!("{tag}.config.snapshot.create.{{device_id}}");
    nats.snapshot_stream = format!("SNAPSHOTS_{tag}");
    nats.snapshot_objects = format!("OBJECTS_{tag}");
    let mut config = checkpointing(common::quiet_daemon_config(
        tmp.path(),
        "cp-js",
        fleet.devices(),
        None,
    ));
    config.nats = Some(nats.clone());
    let (daemon, _) = run_then_restart(&config).await;
    daemon.shutdown().await.unwrap();

    // The stream deleted and created again: the bucket's checkpoints are
    // another log's.
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    js.delete_stream(&nats.stream).await.unwrap();
    let mut daemon = start(&config).await;
    assert_eq!(daemon.restored, None);
    settled(&mut daemon, 6).await;
    daemon.shutdown().await.unwrap();
    for name in [
        nats.stream.clone(),
        nats.snapshot_stream.clone(),
        format!("OBJ_{}_CHECKPOINTS", nats.stream),
        format!("OBJ_{}", nats.snapshot_objects),
    ] {
        let _ = js.delete_stream(name).await;
    }
    fleet.shutdown().await;
}

/// Checkpoints written by a daemon process: how many its log says.
fn written(stderr: &Path) -> usize {
    std::fs::read_to_string(stderr)
        .unwrap_or_default()
        .matches("checkpoint written")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_while_checkpoints_are_written_loses_nothing() {
    let fleet = SimFleet::start(FleetSpec::generated(30, 77)).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = common::child_dir(
        tmp.path(),
        fleet.devices(),
        "node = \"cp-kill\"\ndata_dir = \"data\"\ninventory = \"inventory.toml\"\n\
         [policy]\ninterval_secs = 3600\njitter_min_secs = 0\njitter_max_secs = 1\n\
         command_timeout_secs = 5\n\
         [history]\ncheckpoint_every_events = 1\ncheckpoint_every_secs = 0\ncheckpoints_kept = 2\n",
    );
    let stderr = tmp.path().join("daemon.log");
    let mut child = common::spawn_daemon(&config, &stderr);
    // A checkpoint after every event: the kill lands among writes. Another
    // process: its log is polled, there is no event to await across it.
    for _ in 0..600 {
        if written(&stderr) >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        written(&stderr) >= 20,
        "{}",
        std::fs::read_to_string(&stderr).unwrap()
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let config: DaemonConfig = toml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let config = DaemonConfig {
        data_dir: tmp.path().join("data"),
        inventory: tmp.path().join("inventory.toml"),
        ..config
    };
    let daemon = start(&config).await;
    assert!(daemon.restored.is_some(), "a whole checkpoint survives");
    assert_board_is_the_logs(&daemon).await;
    daemon.shutdown().await.unwrap();
    fleet.shutdown().await;
}
