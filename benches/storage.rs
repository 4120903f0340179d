#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
//! Storage: what a year of history costs per device, in the live log
//! before and after compaction, and in the archive ("years of history":
//! storage figures).
//!
//! `STORAGE_DEVICES` devices (default 1 000) each get a year of sample
//! history (2 920 events from [`sample_history`]: about eight a day at
//! the default policy), on the embedded redb log and, when `NATS_URL` is
//! set, `STORAGE_JETSTREAM_DEVICES` (default 200) on JetStream (a stream
//! of its own, deleted at the end with its checkpoint bucket). The first
//! ten devices' history read and compaction are timed one by one first. Then the daemon's own path: the board folded, a
//! checkpoint written (`Checkpointer::write`), one compaction pass
//! (`daemon::compaction::pass`) at the year's end keeping
//! `STORAGE_KEEP_DAYS` (default 30) days. It prints:
//!
//! - live bytes per device-year before, and per device after (what the
//!   log holds for `keep` days: the steady state once compaction runs):
//!   redb: the bytes its tables store, and the file's length (which does
//!   not shrink: freed pages are reused); JetStream: the stream's
//!   `state.bytes`;
//! - the archive's bytes per device-year (gzip JSON lines, one file per
//!   device and month), read back to check it holds every archived event;
//! - the baseline: the same events as bare JSON lines (the log's own
//!   encoding, one per line, nothing else).
//!
//! Ratios: `<backend>_live_ratio` = live bytes after ÷ before;
//! `<backend>_log_ratio` = live bytes before ÷ bare JSON;
//! `archive_ratio` = archive bytes ÷ the archived events' bare JSON.
//! `<backend>_compaction_per_s`: events the first pass archived and
//! removed per second.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it): 20 devices,
//! embedded only, as a smoke test.

#[path = "common/logs.rs"]
mod logs;

use std::path::Path;
use std::sync::Arc;

use confkeep::daemon::compaction::{OldestLive, pass};
use confkeep::domain::Timestamp;
use confkeep::store::archive::Archive;
use confkeep::store::fold::sample_history;
use confkeep::store::{EmbeddedLog, EventLog, JetStreamLog, codec};
use futures::StreamExt;
use logs::*;

/// A year of history at eight events a day.
const EVENTS_PER_DEVICE: u64 = 2_920;

/// What the live log occupies at one moment.
#[derive(Debug, Clone, Copy)]
struct Live {
    /// redb: the tables' stored bytes; JetStream: `state.bytes`.
    stored: u64,
    /// redb: the file's length; JetStream: the same `state.bytes`.
    file: u64,
}

/// One backend's figures.
struct Measured {
    backend: &'static str,
    devices: u64,
    events: u64,
    span_days: f64,
    bare_bytes: u64,
    before: Live,
    after: Live,
    archive_bytes: u64,
    archived_bare_bytes: u64,
    archived: u64,
    removed: u64,
    compact_s: f64,
    /// One device's history read, and one device's compaction (which
    /// reads the history again, then removes), on the full log.
    history_ms: f64,
    compact_one_ms: f64,
    /// The next day's pass, per device.
    day_pass_ms: f64,
    day_events: u64,
}

impl Measured {
    fn per_device_year(&self, bytes: u64) -> f64 {
        bytes as f64 / self.devices as f64 * (365.0 / self.span_days)
    }
    fn per_device(&self, bytes: u64) -> f64 {
        bytes as f64 / self.devices as f64
    }
    /// Events the first pass removed per second (`removed` counts the
    /// next day's pass too).
    fn first_pass_rate(&self) -> f64 {
        (self.removed - self.day_events) as f64 / self.compact_s
    }
}

/// The events as bare JSON lines, and how many days they span.
fn bare(devices: u64) -> (u64, f64) {
    let mut bytes = 0;
    let mut span = 0;
    for d in 0..devices {
        let (device, tenant) = device_of(d);
        let history = sample_history(&device, &tenant, Timestamp(T0), EVENTS_PER_DEVICE);
        span = span.max(history.last().map_or(0, |e| e.at.0 - T0));
        bytes += history
            .iter()
            .map(|e| codec::encode(e).expect("encode").len() as u64 + 1)
            .sum::<u64>();
    }
    (bytes, span as f64 / 86_400_000.0)
}

/// Every file's length under `dir`.
fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => tree_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The archive read back: how many events, and their bare JSON bytes.
fn archived(archive: &Archive) -> (u64, u64) {
    let (mut n, mut bytes) = (0, 0);
    archive.for_each(
        |e| {
            n += 1;
            bytes += codec::encode(e).expect("encode").len() as u64 + 1;
        },
        |problem| panic!("the archive reads back: {problem}"),
    );
    (n, bytes)
}

/// Fold, checkpoint and compact `log` as the daemon does; `live` reads
/// what the log occupies.
async fn run<F, Fut>(
    backend: &'static str,
    log: Arc<dyn EventLog>,
    archive_dir: &Path,
    devices: u64,
    keep_days: u64,
    live: F,
) -> Measured
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Live>,
{
    let events = fill(log.clone(), devices, EVENTS_PER_DEVICE).await;
    let (bare_bytes, span_days) = bare(devices);
    let before = live().await;
    let (board, _) = full_fold(log.clone(), events).await;
    write_checkpoint(log.as_ref(), board).await;
    let (history_ms, compact_one_ms, probed) = probe(log.as_ref()).await;

    let archive = Archive::new(archive_dir);
    let end = Timestamp(T0 + (span_days * 86_400_000.0) as u64);
    let started = now();
    let done = pass(
        log.as_ref(),
        &archive,
        keep_days,
        end,
        &[],
        &mut OldestLive::new(),
    )
    .await
    .expect("the compaction pass");
    let compact_s = started.elapsed().as_secs_f64();
    assert!(done.failed.is_empty(), "{:?}", done.failed);
    // The steady state: a day later, each device has a day of events
    // more to archive (the first pass did a year's at once).
    let started = now();
    let next_day = pass(
        log.as_ref(),
        &archive,
        keep_days,
        Timestamp(end.0 + 86_400_000),
        &[],
        &mut OldestLive::new(),
    )
    .await
    .expect("the next day's pass");
    let day_pass_ms = started.elapsed().as_secs_f64() * 1000.0 / devices as f64;
    assert!(next_day.failed.is_empty(), "{:?}", next_day.failed);
    let done = confkeep::daemon::compaction::Compacted {
        archived: done.archived + next_day.archived,
        removed: done.removed + next_day.removed,
        ..done
    };
    assert_eq!(done.archived, done.removed, "whatever was archived went");
    let left = log.replay(0).count().await as u64;
    assert_eq!(
        left,
        events - probed - done.removed,
        "the live log holds the rest"
    );
    let after = live().await;
    let (archived_events, archived_bare_bytes) = archived(&archive);
    assert_eq!(archived_events, done.archived, "the archive holds them all");
    Measured {
        backend,
        devices,
        events,
        span_days,
        bare_bytes,
        before,
        after,
        archive_bytes: tree_bytes(archive_dir),
        archived_bare_bytes,
        archived: done.archived,
        removed: done.removed,
        compact_s,
        history_ms,
        compact_one_ms,
        day_pass_ms,
        day_events: next_day.removed,
    }
}

/// Devices whose history read and compaction are timed one by one.
const PROBED: u64 = 10;

/// Time a history read and a compaction (of the first 9 events) of each
/// of the first [`PROBED`] devices: the per-device costs a pass pays.
/// Returns both in ms per device, and how many events were removed.
async fn probe(log: &dyn EventLog) -> (f64, f64, u64) {
    let (mut read_s, mut compact_s, mut removed) = (0.0, 0.0, 0);
    for d in 0..PROBED {
        let (device, _) = device_of(d);
        let started = now();
        let n = log.device_history(&device).count().await as u64;
        read_s += started.elapsed().as_secs_f64();
        assert_eq!(n, EVENTS_PER_DEVICE);
        let started = now();
        removed += log.compact(&device, 10).await.expect("compact");
        compact_s += started.elapsed().as_secs_f64();
    }
    assert_eq!(removed, PROBED * 9);
    let ms = |s: f64| s * 1000.0 / PROBED as f64;
    (ms(read_s), ms(compact_s), removed)
}

async fn embedded(devices: u64, keep_days: u64) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedLog::open_dir(&dir.path().join("log")).unwrap());
    let reader = log.clone();
    let live = move || {
        let use_ = reader.file_use().expect("the file's use");
        std::future::ready(Live {
            stored: use_.stored_bytes,
            file: use_.file_bytes,
        })
    };
    run(
        "embedded",
        log,
        &dir.path().join("archive"),
        devices,
        keep_days,
        live,
    )
    .await
}

async fn jetstream(url: &str, devices: u64, keep_days: u64) -> Measured {
    let stream = format!("BENCH_STORAGE_{}", std::process::id());
    let target = Target::JetStream {
        url: url.to_owned(),
        stream: stream.clone(),
        prefix: format!("bench.storage.{}", std::process::id()),
    };
    let Target::JetStream { prefix, .. } = &target else {
        unreachable!()
    };
    let log = Arc::new(
        JetStreamLog::open(&Target::jetstream_config(url, &stream, prefix))
            .await
            .unwrap(),
    );
    let js = jetstream_context(url).await;
    let live = || async {
        let bytes = js
            .get_stream(&stream)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .bytes;
        Live {
            stored: bytes,
            file: bytes,
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let measured = run("jetstream", log, dir.path(), devices, keep_days, live).await;
    jetstream_cleanup(&js, &target).await;
    measured
}

fn print(all: &[Measured], keep_days: u64) {
    println!(
        "| backend | devices | events | days | bare JSON B/device-year | live before B/device-year | \
         file before B/device-year | live after ({keep_days} d) B/device | file after B/device | \
         archive B/device-year | archived events | compaction s | compaction events/s | \
         history read ms/device | compaction ms/device | next day's pass ms/device | its events |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for m in all {
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {:.2} | {:.0} | {:.1} | {:.1} | {:.2} | {} |",
            m.backend,
            m.devices,
            m.events,
            m.span_days,
            m.per_device_year(m.bare_bytes),
            m.per_device_year(m.before.stored),
            m.per_device_year(m.before.file),
            m.per_device(m.after.stored),
            m.per_device(m.after.file),
            m.per_device_year(m.archive_bytes),
            m.archived,
            m.compact_s,
            m.first_pass_rate(),
            m.history_ms,
            m.compact_one_ms,
            m.day_pass_ms,
            m.day_events,
        );
    }
}

fn json(all: &[Measured], keep_days: u64) -> String {
    let mut out = serde_json::Map::new();
    out.insert("bench".into(), "storage".into());
    out.insert("keep_days".into(), keep_days.into());
    for m in all {
        let b = m.backend;
        let mut put = |k: &str, v: f64| {
            out.insert(format!("{b}_{k}"), v.into());
        };
        put(
            "before_bytes_per_device_year",
            m.per_device_year(m.before.stored),
        );
        put(
            "file_before_bytes_per_device_year",
            m.per_device_year(m.before.file),
        );
        put("after_bytes_per_device", m.per_device(m.after.stored));
        put("file_after_bytes_per_device", m.per_device(m.after.file));
        put("live_ratio", m.after.stored as f64 / m.before.stored as f64);
        put("log_ratio", m.before.stored as f64 / m.bare_bytes as f64);
        put("compaction_per_s", m.first_pass_rate());
        put("history_read_ms_per_device", m.history_ms);
        put("compaction_ms_per_device", m.compact_one_ms);
        put("day_pass_ms_per_device", m.day_pass_ms);
    }
    if let Some(m) = all.first() {
        out.insert(
            "archive_bytes_per_device_year".into(),
            m.per_device_year(m.archive_bytes).into(),
        );
        out.insert(
            "archive_ratio".into(),
            (m.archive_bytes as f64 / m.archived_bare_bytes as f64).into(),
        );
        out.insert(
            "bare_bytes_per_device_year".into(),
            m.per_device_year(m.bare_bytes).into(),
        );
    }
    serde_json::Value::Object(out).to_string()
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let number = |k: &str, default: u64| {
        std::env::var(k)
            .ok()
            .map(|v| v.parse().unwrap_or_else(|_| panic!("{k}={v}: a number")))
            .unwrap_or(default)
    };
    let devices = number("STORAGE_DEVICES", if bench { 1_000 } else { 20 });
    // Fewer on JetStream: each device's history read and purge scans the
    // stream on nats-server 2.9 (the figures say how long).
    let js_devices = number("STORAGE_JETSTREAM_DEVICES", if bench { 200 } else { 20 });
    let keep_days = number("STORAGE_KEEP_DAYS", 30);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = now();
    let mut all = vec![rt.block_on(embedded(devices, keep_days))];
    print(&all, keep_days);
    match std::env::var("NATS_URL") {
        Ok(url) if bench => all.push(rt.block_on(jetstream(&url, js_devices, keep_days))),
        Ok(_) => println!("jetstream: only with --bench"),
        Err(_) => println!("jetstream: skipped (no NATS_URL)"),
    }
    print(&all, keep_days);
    println!("total time: {:.0} s", started.elapsed().as_secs_f64());
    println!("{}", json(&all, keep_days));
}
