//! Compaction with an archive, on the embedded log and on JetStream: old
//! events that the base checkpoint holds move to the archive and leave the
//! live log (each device keeps its last event); archive and live log
//! stitch back into every device's whole history; a start from the
//! checkpoint, and a start from the archive alone (no usable checkpoint),
//! fold the same board as the uncompacted log did; nothing is removed when
//! the archive cannot be written or a follower is behind.

mod common;

use std::sync::{Arc, Mutex};

use confkeep::daemon::checkpoint::{Checkpointer, newest};
use confkeep::daemon::compaction::pass;
use confkeep::domain::{DeviceId, Envelope, TenantId, Timestamp};
use confkeep::effects::config::HistoryConfig;
use confkeep::effects::runner::SystemClock;
use confkeep::projections::projector::Projector;
use confkeep::projections::status::StatusBoard;
use confkeep::store::archive::Archive;
use confkeep::store::fold::sample_history;
use confkeep::store::{EmbeddedLog, EventLog, JetStreamConfig, JetStreamLog};
use futures::StreamExt;

const T0: u64 = 1_700_000_000_000;
const DAY: u64 = 86_400_000;
const DEVICES: usize = 12;

fn device(n: usize) -> (DeviceId, TenantId) {
    (
        DeviceId::parse(&format!("cmp-{n:02}")).unwrap(),
        TenantId::parse(&format!("t{}", n % 3)).unwrap(),
    )
}

/// 60 events a device (about a week of sample history), the first 48
/// appended before the checkpoint and the rest after it.
fn histories() -> Vec<Vec<Envelope>> {
    (0..DEVICES)
        .map(|n| {
            let (d, t) = device(n);
            sample_history(&d, &t, Timestamp(T0 + n as u64 * 1000), 60)
        })
        .collect()
}

async fn append(log: &dyn EventLog, events: &[Envelope]) {
    let Some(first) = events.first() else { return };
    log.append(&first.device, first.seq - 1, events.to_vec())
        .await
        .unwrap();
}

async fn fold(log: Arc<dyn EventLog>, board: StatusBoard) -> StatusBoard {
    let board = Arc::new(Mutex::new(board));
    Projector::new(log, board.clone()).catch_up().await.unwrap();
    board.lock().unwrap().clone()
}

fn rows(board: &StatusBoard) -> Vec<confkeep::projections::status::DeviceStatus> {
    board.rows().collect()
}

async fn live(log: &dyn EventLog, d: &DeviceId) -> Vec<Envelope> {
    log.device_history(d)
        .map(|e| e.unwrap())
        .collect::<Vec<_>>()
        .await
}

/// The whole story on one log.
async fn compact_and_restart(log: Arc<dyn EventLog>, data: &std::path::Path) {
    let all = histories();
    for h in &all {
        append(log.as_ref(), &h[..48]).await;
    }
    let board = fold(log.clone(), StatusBoard::new()).await;
    let writer = Checkpointer::new(
        log.as_ref(),
        Arc::new(Mutex::new(board)),
        Arc::new(SystemClock),
        HistoryConfig::default(),
        0,
    )
    .unwrap();
    let base = writer.write().await.expect("a checkpoint");
    for h in &all {
        append(log.as_ref(), &h[48..]).await;
    }
    let uncompacted = fold(log.clone(), StatusBoard::new()).await;

    // A follower behind the base: nothing moves.
    let archive = Archive::new(data.join("archive"));
    let now = Timestamp(T0 + 5 * DAY);
    let waiting = pass(
        log.as_ref(),
        &archive,
        1,
        now,
        &[("receiver r".into(), 3)],
        &mut Default::default(),
    )
    .await
    .unwrap();
    assert_eq!((waiting.removed, waiting.archived), (0, 0));
    assert!(
        waiting.failed[0].contains("receiver r"),
        "{:?}",
        waiting.failed
    );

    // An archive that cannot be written: nothing is removed.
    let blocked = Archive::new(data.join("not-a-dir"));
    std::fs::write(data.join("not-a-dir"), "a file").unwrap();
    let refused = pass(log.as_ref(), &blocked, 1, now, &[], &mut Default::default())
        .await
        .unwrap();
    assert_eq!(refused.removed, 0);
    assert_eq!(refused.failed.len(), DEVICES, "{:?}", refused.failed);
    assert!(
        refused.failed[0].contains("not-a-dir"),
        "{:?}",
        refused.failed
    );

    let mut oldest = Default::default();
    let done = pass(log.as_ref(), &archive, 1, now, &[], &mut oldest)
        .await
        .unwrap();
    assert_eq!(done.base, base.position);
    assert!(done.failed.is_empty(), "{:?}", done.failed);
    assert!(
        done.archived > 0 && done.removed == done.archived,
        "{done:?}"
    );
    let cutoff = now.0 - DAY;
    for (n, h) in all.iter().enumerate() {
        let (d, t) = device(n);
        let kept = live(log.as_ref(), &d).await;
        let archived = archive.device(&t, &d);
        assert!(archived.problems.is_empty());
        assert!(!kept.is_empty(), "the last event stays");
        assert!(
            archived
                .events
                .iter()
                .all(|e| e.at.0 < cutoff && e.seq <= 48),
            "only old events the checkpoint holds"
        );
        let stitched: Vec<Envelope> = archived.events.iter().chain(&kept).cloned().collect();
        assert_eq!(
            &stitched, h,
            "archive + live log = the whole history of {d}"
        );
    }
    // Compacting again moves nothing more.
    let again = pass(log.as_ref(), &archive, 1, now, &[], &mut oldest)
        .await
        .unwrap();
    assert_eq!(again.removed, 0);
    assert_eq!(
        oldest.len(),
        DEVICES,
        "every device's oldest live event is known"
    );
    let later = Timestamp(now.0 + 2 * DAY);
    let moved = pass(log.as_ref(), &archive, 1, later, &[], &mut oldest)
        .await
        .unwrap();
    assert!(
        moved.removed > 0,
        "a later cut-off reads the devices again: {moved:?}"
    );

    // From the checkpoint: the same board.
    let (_, board) = newest(log.as_ref()).await.expect("the checkpoint");
    let restored = fold(log.clone(), board).await;
    assert_eq!(rows(&restored), rows(&uncompacted));
    // From the archive alone (as when no checkpoint is usable): the same.
    let mut seeded = StatusBoard::new();
    archive.for_each(
        |env| {
            seeded.apply_archived(env);
        },
        |p| panic!("{p}"),
    );
    let from_archive = fold(log.clone(), seeded).await;
    assert_eq!(rows(&from_archive), rows(&uncompacted));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_compaction_archives_first_and_restarts_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open_dir(&data).unwrap());
    compact_and_restart(log, &data).await;

    // The CLI, from the files alone: history stitches archive and live
    // log, replay --verify starts from the oldest archived event.
    let (code, out, err) =
        common::confkeep_on(&["history", "cmp-03", "--json", "--archive"], &data).await;
    assert_eq!(code, Some(0), "{err}");
    let seqs: Vec<u64> = out
        .lines()
        .map(|l| serde_json::from_str::<Envelope>(l).unwrap().seq)
        .collect();
    assert_eq!(seqs, (1..=60).collect::<Vec<_>>(), "one timeline");
    let (code, out, _) = common::confkeep_on(&["history", "cmp-03", "--json"], &data).await;
    assert_eq!(code, Some(0));
    assert!(
        out.lines().count() < 60,
        "without the archive: the live log only"
    );

    // status from the files: the checkpoint and the tail, every device
    // whole (its events count the archived ones too).
    let (code, out, err) = common::confkeep_on(&["status", "--json"], &data).await;
    assert_eq!(code, Some(0), "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    let devices = status["devices"].as_array().unwrap();
    assert_eq!(devices.len(), DEVICES);
    assert!(
        devices
            .iter()
            .all(|d| d["seq"] == 60 && d["events"] == 60 && d.get("out_of_date").is_none()),
        "{out}"
    );
    let (code, out, err) = common::confkeep_on(&["replay", "--verify"], &data).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("from the oldest retained point"), "{out}");
    let empty = tmp.path().join("no-archive");
    std::fs::create_dir(&empty).unwrap();
    let (code, out, _) = common::confkeep_on(
        &["replay", "--verify", "--archive", empty.to_str().unwrap()],
        &data,
    )
    .await;
    assert_eq!(code, Some(1), "the compacted log alone has gaps: {out}");

    // A daemon with no usable checkpoint (as after an upgrade of the
    // rules) on the compacted log: the archive, then the live log.
    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open_dir(&data).unwrap());
    let store = log.checkpoints().unwrap();
    for meta in store.list().await.unwrap() {
        store.remove(&meta).await.unwrap();
    }
    drop((store, log));
    let mut config = common::quiet_daemon_config(tmp.path(), "cmp", &[], None);
    config.data_dir = data.clone();
    config.history.checkpoint_every_events = 0;
    config.history.checkpoint_every_secs = 0;
    let daemon = confkeep::daemon::start(config, Arc::new(SystemClock))
        .await
        .unwrap();
    assert_eq!(daemon.restored, None);
    let board = daemon.status.lock().unwrap().clone();
    daemon.shutdown().await.unwrap();
    // What the archive and the live log up to the same position fold to.
    let mut expected = StatusBoard::new();
    Archive::new(data.join("archive")).for_each(
        |env| {
            expected.apply_archived(env);
        },
        |p| panic!("{p}"),
    );
    let log = EmbeddedLog::open_dir(&data).unwrap();
    let mut live = log.replay(0);
    while let Some(item) = live.next().await {
        let (global, env) = item.unwrap();
        if global > board.checkpoint() {
            break;
        }
        expected.apply(global, &env);
    }
    assert_eq!(rows(&board), rows(&expected));
    assert_eq!(board.len(), DEVICES, "every device, archived ones too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_compaction_purges_below_the_first_kept_event() {
    let url = std::env::var("NATS_URL")
        .expect("NATS_URL must point at nats-server with JetStream (scripts/test starts one)");
    common::keep_account_alive(&url).await;
    let tag = format!("CMP{}", std::process::id());
    let mut config = JetStreamConfig::new(&url);
    config.stream = format!("EVENTS_{tag}");
    config.subject_prefix = format!("{tag}.backup.events");
    let tmp = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(JetStreamLog::open(&config).await.unwrap());
    compact_and_restart(log, tmp.path()).await;
    let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    let _ = js.delete_stream(&config.stream).await;
    let _ = js
        .delete_stream(format!("OBJ_{}_CHECKPOINTS", config.stream))
        .await;
}
