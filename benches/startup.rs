#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
//! Start-up: the full replay (the baseline) beside start-up from a
//! checkpoint, in the same run ("years of history: checkpoints and a
//! start-up that does not grow with the log").
//!
//! For logs of 1 M and 5 M events (and 10 M with `STARTUP_10M=1`) over
//! 100 000 devices (10, 50, 100 events each, from [`sample_history`]), on
//! the embedded redb log and, when `NATS_URL` is set, on JetStream (a
//! stream of its own, uniquely named, deleted at the end with its
//! checkpoint bucket), it measures:
//!
//! 1. fill: each device's history appended in batches of [`BATCH`] events
//!    per `append` call, [`WINDOW`] devices in flight (setup, printed). The
//!    log is therefore grouped by device, not interleaved as a live fleet
//!    writes it.
//! 2. full replay: the log reopened, then the whole log folded into a
//!    fresh `StatusBoard` via `Projector::catch_up`: seconds and events/s.
//!    This is start-up without a checkpoint (the board only: the daemon
//!    also folds the runner's machines beside it, so the baseline is on the
//!    low side and `checkpoint_ratio` below is conservative).
//! 3. the bare read, in the same run on the same log, just before and just
//!    after the fold (the faster of the two is kept): the replay stream's
//!    items counted (decoded but not folded). `replay_ratio` = fold
//!    events/s ÷ bare read events/s.
//! 4. storage: bytes per event (redb: the file's size after filling, and
//!    the blocks it really occupies; JetStream: the stream's `state.bytes`),
//!    and per device-year at 8 events per device per day (2 920 events).
//! 5. memory: VmRSS after the full fold (the process also filled the log,
//!    so it is an upper bound), and its growth during the fold, per device.
//! 6. checkpoint write: the fully folded board written as a checkpoint by
//!    the daemon's `Checkpointer::write` (encode under the board's lock,
//!    gzip, SHA-256, store, prune): seconds, bytes, bytes per device; and
//!    apart, the encode alone with the board locked (what the projector
//!    waits while a checkpoint is made).
//! 7. ready from checkpoint: after the checkpoint at position P, a tail of
//!    [`TAIL`] events is appended (one event each for the first [`TAIL`]
//!    devices, half the fleet; in small mode half the devices), the log is
//!    closed, and a FRESH PROCESS (this bench re-executed with
//!    `STARTUP_RESTORE=…`) opens it and does what the daemon does at
//!    start-up: `daemon::checkpoint::newest` (list, load, SHA-256, decode),
//!    the runner's machines restored from the board (`Fleet::restore`),
//!    then the tail folded into the board (`Projector::catch_up`) and into
//!    the fleet (`Fleet::replay`) side by side on one task, as the daemon's
//!    `tokio::join!` does. "ready s" = newest + restore + tail folds (the
//!    log's open is printed apart, as for the full replay). The child
//!    prints one JSON line: times, VmRSS after opening the log, VmRSS with
//!    the restored board and fleet (after the tail) and VmHWM (the peak,
//!    which includes the decode's transient copies). It checks the board's
//!    position is the log's end, the device count, and that the board's
//!    and the fleet's machine states are the same.
//!    `checkpoint_ratio` = full replay s ÷ ready-from-checkpoint s (bigger
//!    is better; the checkpoint side also folds P..P+tail into the fleet,
//!    the full replay does not). Target: ≤ 3 s ready at 10 M.
//!
//! `STARTUP_1M_DEVICES=1 cargo bench --bench startup` instead runs "a
//! million devices on one daemon": 1 000 000 devices × 3 events (enrolled,
//! first backup started and finished: idle), folded into a board (a full
//! replay, timed), a checkpoint written, the tail appended, then ready
//! from checkpoint and resident memory measured in a fresh process as
//! above (targets: ≤ 10 s ready, ≤ 1.5 GB resident). Embedded, and
//! JetStream when `NATS_URL` is set.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it runs 2 000
//! devices × 10 events, and the million path at 2 000 devices × 3 events,
//! on the embedded log only, as a smoke test (the checkpoint path and its
//! child process included). Prints markdown tables, then one JSON line.

#[path = "common/logs.rs"]
mod logs;
#[path = "common/startup_report.rs"]
mod report;

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use confkeep::daemon::checkpoint::newest;
use confkeep::domain::fleet::Fleet;
use confkeep::domain::{RULES_VERSION, Timestamp};
use confkeep::projections::projector::Projector;
use confkeep::projections::status::StatusBoard;
use confkeep::store::EventLog;
use confkeep::store::fold::sample_history;
use futures::StreamExt;
use logs::*;
use report::*;
use serde::{Deserialize, Serialize};

/// The tail appended after the checkpoint: one event each for this many
/// devices (at most half the fleet). Half the default
/// `checkpoint_every_events` (100 000): the average tail a start finds.
const TAIL: u64 = 50_000;
/// Events per device in the million-devices mode: enrolled, the first
/// backup's timer fired, its attempt finished (idle until the next one).
const MILLION_EVENTS_PER_DEVICE: u64 = 3;
/// The child's environment: which log to restore from.
const RESTORE: &str = "STARTUP_RESTORE";

/// What one log size on one backend measured.
struct Run {
    backend: &'static str,
    devices: u64,
    events: u64,
    fill_s: f64,
    open_s: f64,
    read_s: f64,
    replay_s: f64,
    bytes: u64,
    /// What the log occupies on disk (redb: the file's allocated blocks).
    disk_bytes: u64,
    rss_after: u64,
    rss_growth: u64,
    cp: FromCheckpoint,
}

impl Run {
    fn read_rate(&self) -> f64 {
        self.events as f64 / self.read_s
    }
    fn replay_rate(&self) -> f64 {
        self.events as f64 / self.replay_s
    }
    fn ratio(&self) -> f64 {
        self.replay_rate() / self.read_rate()
    }
    fn bytes_per_event(&self) -> f64 {
        self.bytes as f64 / self.events as f64
    }
    fn disk_bytes_per_event(&self) -> f64 {
        self.disk_bytes as f64 / self.events as f64
    }
    fn bytes_per_device_year(&self) -> f64 {
        self.bytes_per_event() * EVENTS_PER_DEVICE_YEAR
    }
    fn checkpoint_ratio(&self) -> f64 {
        self.replay_s / self.cp.ready.ready_s
    }
}

/// A checkpoint written of the fully folded board, and a start from it.
struct FromCheckpoint {
    /// `Checkpointer::write`: encode, compress, hash, store, prune.
    write_s: f64,
    /// The encode alone, with the board locked.
    encode_s: f64,
    bytes: u64,
    tail_events: u64,
    tail_append_s: f64,
    ready: Ready,
}

/// What the child measured: a start from the checkpoint in a fresh process.
#[derive(Debug, Serialize, Deserialize)]
struct Ready {
    open_s: f64,
    /// `daemon::checkpoint::newest`: list, load, verify, decode.
    newest_s: f64,
    /// `Fleet::restore` from the board's states.
    restore_s: f64,
    /// The board's tail fold, done (from the start of both folds).
    board_tail_s: f64,
    /// The fleet's tail fold, done (from the start of both folds).
    fleet_tail_s: f64,
    /// newest + restore + both tail folds.
    ready_s: f64,
    /// VmRSS with the log open, before the checkpoint is read.
    rss_before: u64,
    /// VmRSS with the restored board and fleet, after the tail.
    rss_ready: u64,
    /// VmHWM: the child's peak.
    rss_peak: u64,
    devices: u64,
}

/// The next event of each of the first `devices` devices (each has
/// `per_device` already): the tail after the checkpoint.
async fn append_tail(log: Arc<dyn EventLog>, devices: u64, per_device: u64) -> u64 {
    futures::stream::iter(0..devices)
        .map(|d| {
            let log = log.clone();
            async move {
                let (device, tenant) = device_of(d);
                let next = sample_history(&device, &tenant, Timestamp(T0), per_device + 1)
                    .pop()
                    .expect("one more event");
                let last = log
                    .append(&device, per_device, vec![next])
                    .await
                    .expect("append the tail");
                assert_eq!(last, per_device + 1);
                1
            }
        })
        .buffer_unordered(WINDOW)
        .fold(0, |n, one| async move { n + one })
        .await
}

async fn read_then_fold(
    log: Arc<dyn EventLog>,
    events: u64,
) -> (f64, f64, u64, u64, Arc<Mutex<StatusBoard>>) {
    let bare_read = || async {
        log.replay(0)
            .fold(0u64, |n, item| async move {
                std::hint::black_box(item.expect("replay"));
                n + 1
            })
            .await
    };
    let started = now();
    let read = bare_read().await;
    let read_s = started.elapsed().as_secs_f64();
    assert_eq!(read, events, "the bare read saw every event");

    let before = rss_bytes();
    let (board, replay_s) = full_fold(log.clone(), events).await;
    let after = rss_bytes();
    // The bare read again, after the fold: the best of the two brackets
    // the fold (the first read also warms caches).
    let started = now();
    let again = bare_read().await;
    let read_s = read_s.min(started.elapsed().as_secs_f64());
    assert_eq!(again, events, "the bare read saw every event");
    assert_eq!(board.lock().unwrap().checkpoint(), events);
    (read_s, replay_s, after, after.saturating_sub(before), board)
}

impl Target {
    /// The child's environment for this log.
    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Target::Embedded(dir) => vec![
                (RESTORE, "embedded".into()),
                ("STARTUP_RESTORE_DIR", dir.display().to_string()),
            ],
            Target::JetStream {
                url,
                stream,
                prefix,
            } => vec![
                (RESTORE, "jetstream".into()),
                ("STARTUP_RESTORE_URL", url.clone()),
                ("STARTUP_RESTORE_STREAM", stream.clone()),
                ("STARTUP_RESTORE_PREFIX", prefix.clone()),
            ],
        }
    }

    /// The log the parent named, in the child.
    fn from_env() -> Option<Target> {
        let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is set"));
        match std::env::var(RESTORE).ok()?.as_str() {
            "embedded" => Some(Target::Embedded(var("STARTUP_RESTORE_DIR").into())),
            "jetstream" => Some(Target::JetStream {
                url: var("STARTUP_RESTORE_URL"),
                stream: var("STARTUP_RESTORE_STREAM"),
                prefix: var("STARTUP_RESTORE_PREFIX"),
            }),
            other => panic!("{RESTORE}={other}: embedded or jetstream"),
        }
    }
}

/// Write a checkpoint of `board` (fully folded, the only handle on it),
/// append the tail, close the log, then start from the checkpoint in a
/// fresh process.
async fn from_checkpoint(
    log: Arc<dyn EventLog>,
    board: Arc<Mutex<StatusBoard>>,
    target: &Target,
    devices: u64,
    per_device: u64,
) -> FromCheckpoint {
    let position = board.lock().unwrap().checkpoint();
    let started = now();
    let meta = write_checkpoint(log.as_ref(), board.clone()).await;
    let write_s = started.elapsed().as_secs_f64();
    assert_eq!(
        meta.position, position,
        "the checkpoint is at the log's end"
    );
    let encode_s = {
        let b = board.lock().unwrap();
        let started = now();
        let body = b.checkpoint_body(RULES_VERSION).expect("encode");
        let s = started.elapsed().as_secs_f64();
        assert_eq!(body.len() as u64, meta.bytes, "the encode is deterministic");
        s
    };
    drop(board);

    let tail_devices = TAIL.min(devices / 2);
    let started = now();
    let tail_events = append_tail(log.clone(), tail_devices, per_device).await;
    let tail_append_s = started.elapsed().as_secs_f64();
    drop(log); // closes the redb file: the child opens it

    let ready = restore_in_child(target, devices, position, position + tail_events).await;
    FromCheckpoint {
        write_s,
        encode_s,
        bytes: meta.bytes,
        tail_events,
        tail_append_s,
        ready,
    }
}

/// Re-execute this bench to start from `target`'s checkpoint; parse the
/// JSON line it prints.
async fn restore_in_child(target: &Target, devices: u64, position: u64, end: u64) -> Ready {
    let exe = std::env::current_exe().expect("this bench's executable");
    let out = tokio::process::Command::new(exe)
        .envs(target.env())
        .env("STARTUP_RESTORE_DEVICES", devices.to_string())
        .env("STARTUP_RESTORE_POSITION", position.to_string())
        .env("STARTUP_RESTORE_END", end.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("the restore child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the restore child failed ({}): {stdout}",
        out.status
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("the restore child printed no JSON line: {stdout}"));
    serde_json::from_str(line).expect("the restore child's JSON line")
}

/// The child: start from the newest checkpoint of the log the parent named,
/// as the daemon does, and say how long and how much memory it took.
async fn restore_child(target: Target) -> Ready {
    let number = |k: &str| -> u64 {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{k} is a number"))
    };
    let (devices, position, end) = (
        number("STARTUP_RESTORE_DEVICES"),
        number("STARTUP_RESTORE_POSITION"),
        number("STARTUP_RESTORE_END"),
    );
    let started = now();
    let log = target.open().await;
    let open_s = started.elapsed().as_secs_f64();
    let rss_before = rss_bytes();

    let started = now();
    let (restored, board) = newest(log.as_ref())
        .await
        .expect("a usable checkpoint (a skipped one is said in the log)");
    let newest_s = started.elapsed().as_secs_f64();
    assert_eq!(
        restored.position, position,
        "the newest checkpoint is taken"
    );
    assert_eq!(restored.devices as u64, devices);
    assert_eq!(restored.skipped, 0);

    let restoring = now();
    let mut fleet = Fleet::new("bench");
    fleet.restore(board.states().cloned(), board.slots());
    let restore_s = restoring.elapsed().as_secs_f64();

    // Both tails side by side on one task, as the daemon's `tokio::join!`.
    let board = Arc::new(Mutex::new(board));
    let projector = Projector::new(log.clone(), board.clone());
    let folding = now();
    let board_fold = async {
        let n = projector
            .catch_up()
            .await
            .expect("the board folds the tail");
        (n, folding.elapsed().as_secs_f64())
    };
    let fleet_fold = async {
        let mut stream = log.replay(restored.position + 1);
        let mut n = 0u64;
        while let Some(item) = stream.next().await {
            let (_, env) = item.expect("replay the tail");
            fleet
                .replay(&env)
                .expect("the tail follows the checkpoint's machines");
            n += 1;
        }
        (n, folding.elapsed().as_secs_f64())
    };
    let ((board_n, board_tail_s), (fleet_n, fleet_tail_s)) = tokio::join!(board_fold, fleet_fold);
    let ready_s = started.elapsed().as_secs_f64();
    let (rss_ready, rss_peak) = (rss_bytes(), proc_status_bytes("VmHWM:"));

    assert_eq!(board_n, end - position, "the board folded the tail");
    assert_eq!(fleet_n, end - position, "the fleet folded the tail");
    assert_eq!(fleet.len() as u64, devices);
    {
        let b = board.lock().unwrap();
        assert_eq!(b.checkpoint(), end, "the board is at the log's end");
        assert_eq!(b.len() as u64, devices);
        let machines = fleet.states();
        assert!(
            b.states().eq(machines.iter().copied()),
            "the board's and the fleet's machines agree after the tail"
        );
    }
    Ready {
        open_s,
        newest_s,
        restore_s,
        board_tail_s,
        fleet_tail_s,
        ready_s,
        rss_before,
        rss_ready,
        rss_peak,
        devices,
    }
}

async fn embedded(devices: u64, per_device: u64) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::Embedded(dir.path().to_owned());
    let log = target.open().await;
    let started = now();
    let events = fill(log.clone(), devices, per_device).await;
    let fill_s = started.elapsed().as_secs_f64();
    drop(log); // closes the file (one handle at a time)
    let path = dir.path().join(confkeep::store::embedded::FILE_NAME);
    let meta = std::fs::metadata(&path).unwrap();
    let (bytes, disk_bytes) = (
        meta.len(),
        std::os::unix::fs::MetadataExt::blocks(&meta) * 512,
    );

    let started = now();
    let log = target.open().await;
    let open_s = started.elapsed().as_secs_f64();
    let (read_s, replay_s, rss_after, rss_growth, board) =
        read_then_fold(log.clone(), events).await;
    let cp = from_checkpoint(log, board, &target, devices, per_device).await;
    Run {
        backend: "embedded",
        devices,
        events,
        fill_s,
        open_s,
        read_s,
        replay_s,
        bytes,
        disk_bytes,
        rss_after,
        rss_growth,
        cp,
    }
}

/// A stream of its own for one size (and its checkpoint bucket).
fn jetstream_target(url: &str, run_id: &str, size: &str) -> Target {
    Target::JetStream {
        url: url.to_owned(),
        stream: format!("BENCH_STARTUP_{run_id}_{}", size.to_uppercase()),
        prefix: format!("bench.startup.{run_id}.{size}"),
    }
}

async fn jetstream_run(url: &str, run_id: &str, devices: u64, per_device: u64) -> Run {
    let target = jetstream_target(url, run_id, &label(devices * per_device));
    let Target::JetStream { stream, .. } = &target else {
        unreachable!()
    };
    let js = jetstream_context(url).await;

    let log = target.open().await;
    let started = now();
    let events = fill(log.clone(), devices, per_device).await;
    let fill_s = started.elapsed().as_secs_f64();
    drop(log);
    let bytes = js
        .get_stream(stream)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .bytes;

    let started = now();
    let log = target.open().await;
    let open_s = started.elapsed().as_secs_f64();
    let (read_s, replay_s, rss_after, rss_growth, board) =
        read_then_fold(log.clone(), events).await;
    let cp = from_checkpoint(log, board, &target, devices, per_device).await;
    jetstream_cleanup(&js, &target).await;
    Run {
        backend: "jetstream",
        devices,
        events,
        fill_s,
        open_s,
        read_s,
        replay_s,
        bytes,
        disk_bytes: bytes,
        rss_after,
        rss_growth,
        cp,
    }
}

/// What the million-devices mode measured on one backend.
struct Million {
    backend: &'static str,
    devices: u64,
    events: u64,
    fill_s: f64,
    /// The fold that built the board (a full replay, in the filling process).
    replay_s: f64,
    cp: FromCheckpoint,
}

impl Million {
    fn ratio(&self) -> f64 {
        self.replay_s / self.cp.ready.ready_s
    }
    fn within_targets(&self) -> bool {
        self.cp.ready.ready_s <= 10.0 && self.cp.ready.rss_ready <= 1_500_000_000
    }
}

async fn million(target: Target, devices: u64) -> Million {
    let log = target.open().await;
    let started = now();
    let events = fill(log.clone(), devices, MILLION_EVENTS_PER_DEVICE).await;
    let fill_s = started.elapsed().as_secs_f64();
    assert_eq!(events, devices * MILLION_EVENTS_PER_DEVICE);
    let (board, replay_s) = full_fold(log.clone(), events).await;
    let cp = from_checkpoint(log, board, &target, devices, MILLION_EVENTS_PER_DEVICE).await;
    Million {
        backend: target.backend(),
        devices,
        events,
        fill_s,
        replay_s,
        cp,
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Some(target) = Target::from_env() {
        let ready = rt.block_on(restore_child(target));
        println!("{}", serde_json::to_string(&ready).unwrap());
        return;
    }

    let full = std::env::args().any(|a| a == "--bench");
    let million_mode = std::env::var("STARTUP_1M_DEVICES").is_ok_and(|v| v == "1");
    let url = std::env::var("NATS_URL")
        .ok()
        .filter(|u| full && !u.trim().is_empty());
    let run_id = format!(
        "{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let started = now();
    let mut out = Json::new();
    out.insert("bench".into(), "startup".into());

    let mut millions = Vec::new();
    if !full || million_mode {
        let devices = if full { 1_000_000 } else { 2_000 };
        let dir = tempfile::tempdir().unwrap();
        millions.push(rt.block_on(million(Target::Embedded(dir.path().to_owned()), devices)));
        drop(dir);
        if let Some(url) = &url {
            let target = jetstream_target(url, &run_id, "million");
            let m = rt.block_on(million(target.clone(), devices));
            rt.block_on(async { jetstream_cleanup(&jetstream_context(url).await, &target).await });
            millions.push(m);
        } else if full {
            println!("jetstream: skipped (no NATS_URL)");
        }
    }

    let mut runs = Vec::new();
    if !full || !million_mode {
        let (devices, per_device): (u64, Vec<u64>) = if full {
            let mut sizes = vec![10, 50];
            if std::env::var("STARTUP_10M").is_ok_and(|v| v == "1") {
                sizes.push(100);
            }
            (100_000, sizes)
        } else {
            (2_000, vec![10])
        };
        out.insert("devices".into(), devices.into());
        for &n in &per_device {
            let r = rt.block_on(embedded(devices, n));
            eprintln!("{}", row(&r));
            runs.push(r);
        }
        if let Some(url) = &url {
            for &n in &per_device {
                let r = rt.block_on(jetstream_run(url, &run_id, devices, n));
                eprintln!("{}", row(&r));
                runs.push(r);
            }
        } else if full {
            println!("jetstream: skipped (no NATS_URL)");
        }
    }

    if !runs.is_empty() {
        println!();
        println!(
            "| backend | events | devices | fill s | fill ev/s | open s | bare read s | bare read ev/s \
             | full replay s | replay ev/s | replay ratio | bytes/event | disk B/event | bytes/device-year \
             | RSS after fold MB | RSS/device B | RSS growth in fold/device B |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for r in &runs {
            println!("{}", row(r));
        }
        print_checkpoint_table(
            runs.iter()
                .map(|r| checkpoint_row(r.backend, r.events, r.devices, r.replay_s, &r.cp)),
        );
        println!();
        for backend in ["embedded", "jetstream"] {
            let of: Vec<&Run> = runs.iter().filter(|r| r.backend == backend).collect();
            if !of.is_empty() {
                println!("ready from checkpoint, {backend}: {}", curve(&of));
            }
        }
    }
    if !millions.is_empty() {
        println!();
        println!(
            "million devices ({} events each, then the tail): fill, and the full replay that built the board, in the filling process",
            MILLION_EVENTS_PER_DEVICE
        );
        println!("| backend | devices | events | fill s | full replay s |");
        println!("|---|---|---|---|---|");
        for m in &millions {
            println!(
                "| {} | {} | {} | {:.1} | {:.2} |",
                m.backend, m.devices, m.events, m.fill_s, m.replay_s
            );
        }
        print_checkpoint_table(
            millions
                .iter()
                .map(|m| checkpoint_row(m.backend, m.events, m.devices, m.replay_s, &m.cp)),
        );
        for m in &millions {
            println!(
                "million devices, {}: ready {:.2} s (target ≤ 10 s), resident {:.0} MB (target ≤ 1 500 MB), peak {:.0} MB: {}",
                m.backend,
                m.cp.ready.ready_s,
                mb(m.cp.ready.rss_ready),
                mb(m.cp.ready.rss_peak),
                if m.within_targets() {
                    "within targets"
                } else {
                    "ABOVE TARGET"
                }
            );
        }
    }
    println!("total time: {:.0} s", started.elapsed().as_secs_f64());

    let of = |b: &str| runs.iter().filter(|r| r.backend == b).collect::<Vec<_>>();
    keys(&mut out, &of("embedded"), "");
    keys(&mut out, &of("jetstream"), "jetstream_");
    for m in &millions {
        million_keys(&mut out, m);
    }
    println!("{}", serde_json::Value::Object(out));
}
