//! The event log's throughput, each figure beside a raw baseline measured in
//! the same run (the machine is shared and noisy: compare ratios).
//!
//! - append: 200 000 realistic envelopes over 2 000 devices, pipelined
//!   across devices (one append in flight per device, 1 000 in flight in
//!   all). JetStream's baseline: raw async-nats publishes of the same bytes
//!   with the same headers (Msg-Id, expected last subject sequence) and the
//!   same window.
//! - replay into machines (read + decode + `step`): 1 000 000 envelopes.
//!   JetStream's baseline: a raw ordered-consumer read of the same stream.
//! - embedded: the baselines are bare redb on the same kind of file: the
//!   same rows inserted in commits of `window` events with the same
//!   durability, and one range read of the same events table.
//!
//! `cargo bench --bench log` runs the full sizes (JetStream needs
//! `NATS_URL`); `cargo test` runs this binary with small sizes as a smoke
//! test. Prints a table, then one JSON line.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull::OrderedConfig, message::PublishMessage};
use bytes::Bytes;
use confkeep::domain::{DeviceId, Envelope, TenantId, Timestamp};
use confkeep::store::fold::{Fold, sample_history};
use confkeep::store::{EmbeddedLog, EventLog, JetStreamConfig, JetStreamLog};
use futures::{StreamExt, TryStreamExt};
use redb::ReadableDatabase;

/// Each comparison runs this many times, ours and the baseline alternating;
/// the best of each is kept (the machine is shared and noisy).
const ROUNDS: usize = 3;

struct Sizes {
    devices: u64,
    append_events: u64,
    replay_events: u64,
    window: usize,
}

#[allow(clippy::disallowed_methods)] // a benchmark measures real time
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

/// Per device, its envelopes `[from, to)` of a long sample history.
fn histories(devices: u64, per_device: u64) -> Vec<(DeviceId, Vec<Envelope>)> {
    let tenant = TenantId::parse("acme").unwrap();
    (0..devices)
        .map(|d| {
            let device = DeviceId::parse(&format!("rb-{d:05}")).unwrap();
            let h = sample_history(&device, &tenant, Timestamp(1_700_000_000_000), per_device);
            (device, h)
        })
        .collect()
}

/// Append every device's envelopes one at a time, `window` devices at once.
async fn append_pipelined(
    log: Arc<dyn EventLog>,
    work: &[(DeviceId, Vec<Envelope>)],
    window: usize,
) -> f64 {
    // The copy the appends consume is made before the clock starts (the
    // raw baseline prepares its messages before too).
    let work = work.to_vec();
    let started = now();
    let total: u64 = futures::stream::iter(work)
        .map(|(device, envs)| {
            let log = log.clone();
            async move {
                let mut n = 0;
                for env in envs {
                    let seq = log.append(&device, env.seq - 1, vec![env]).await;
                    n = seq.expect("append");
                }
                n
            }
        })
        .buffer_unordered(window)
        .fold(0, |a, n| async move { a + n })
        .await;
    total as f64 / started.elapsed().as_secs_f64()
}

/// Replay the whole log into machines; events per second and seconds.
async fn replay_into_machines(log: &dyn EventLog, expected: u64) -> (f64, f64) {
    let started = now();
    let mut fold = Fold::new();
    let mut diffs = Vec::new();
    let mut events = log.replay(0);
    while let Some(item) = events.next().await {
        let (global, env) = item.expect("replay");
        let _ = fold.apply(global, &env, false, &mut diffs);
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(fold.events, expected, "replay saw every event");
    (fold.events as f64 / secs, secs)
}

struct Row {
    what: &'static str,
    ours: f64,
    baseline: Option<f64>,
}

/// The embedded log's tables, as `src/store/embedded.rs` defines them.
const EVENTS: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("events");
const DEVICE_EVENTS: redb::TableDefinition<(&str, u64), u64> =
    redb::TableDefinition::new("device_events");
/// The embedded log's page cache.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

fn raw_db(path: &std::path::Path) -> redb::Database {
    redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(path)
        .unwrap()
}

/// Bare redb: the same rows (event and device index) in the order a fleet
/// appends them, `group` events per commit with the default durability
/// (fsync on commit), the group size the embedded log reaches at best with
/// `group` appends in flight. Encoding happens before the clock starts.
fn raw_redb_append(
    path: &std::path::Path,
    work: &[(DeviceId, Vec<Envelope>)],
    group: usize,
) -> f64 {
    let rounds = work.first().map_or(0, |(_, e)| e.len());
    let mut rows = Vec::with_capacity(rounds * work.len());
    for r in 0..rounds {
        for (d, envs) in work {
            rows.push((d.as_str(), envs[r].seq, envs[r].encode().unwrap()));
        }
    }
    let db = raw_db(path);
    let started = now();
    let mut global = 0u64;
    for chunk in rows.chunks(group) {
        let tx = db.begin_write().unwrap();
        {
            let mut events = tx.open_table(EVENTS).unwrap();
            let mut index = tx.open_table(DEVICE_EVENTS).unwrap();
            for (device, seq, bytes) in chunk {
                global += 1;
                events.insert(global, bytes.as_slice()).unwrap();
                index.insert((*device, *seq), global).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    rows.len() as f64 / started.elapsed().as_secs_f64()
}

/// Bare redb: one range read over the whole events table, touching every
/// value (no decoding).
fn raw_redb_read(path: &std::path::Path, expected: u64) -> f64 {
    let db = raw_db(path);
    let started = now();
    let tx = db.begin_read().unwrap();
    let table = tx.open_table(EVENTS).unwrap();
    let mut n = 0u64;
    for row in table.range(1..).unwrap() {
        let (_, value) = row.unwrap();
        std::hint::black_box(value.value());
        n += 1;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    assert_eq!(n, expected);
    rate
}

async fn embedded(sizes: &Sizes, rows: &mut Vec<Row>) -> (f64, f64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open_dir(dir.path()).unwrap());
    let per_device = sizes.append_events / sizes.devices;
    let work = histories(sizes.devices, per_device);
    // Alternate ours and raw (the fsyncs are noisy), keep the best of each.
    let (mut append, mut raw_append) = (0f64, 0f64);
    for round in 0..ROUNDS {
        let raw_path = dir.path().join(format!("raw-{round}.redb"));
        raw_append = raw_append.max(raw_redb_append(&raw_path, &work, sizes.window));
        std::fs::remove_file(&raw_path).unwrap();
        let ours = if round == 0 {
            log.clone()
        } else {
            let other = dir.path().join(format!("append-round-{round}"));
            Arc::new(EmbeddedLog::open_dir(&other).unwrap())
        };
        append = append.max(append_pipelined(ours, &work, sizes.window).await);
    }
    rows.push(Row {
        what: "embedded append (events/s)",
        ours: append,
        baseline: Some(raw_append),
    });
    // Fill up to the replay size in large batches, then replay.
    let rest = (sizes.replay_events - sizes.append_events) / sizes.devices;
    let long = histories(sizes.devices, per_device + rest);
    for (device, envs) in &long {
        log.append(device, per_device, envs[per_device as usize..].to_vec())
            .await
            .unwrap();
    }
    let expected = sizes.devices * (per_device + rest);
    drop(log);
    let path = dir.path().join(confkeep::store::embedded::FILE_NAME);
    let (mut raw_read, mut read_only, mut replay) = (0f64, 0f64, 0f64);
    for _ in 0..ROUNDS {
        // redb takes the file for one handle: the log is closed meanwhile.
        raw_read = raw_read.max(raw_redb_read(&path, expected));
        let log = EmbeddedLog::open_dir(dir.path()).unwrap();
        let started = now();
        let read = log.replay(0).fold(0u64, |n, item| async move {
            std::hint::black_box(item.expect("replay"));
            n + 1
        });
        assert_eq!(read.await, expected);
        read_only = read_only.max(expected as f64 / started.elapsed().as_secs_f64());
        replay = replay.max(replay_into_machines(&log, expected).await.0);
    }
    rows.push(Row {
        what: "embedded replay, read + decode only (events/s)",
        ours: read_only,
        baseline: Some(raw_read),
    });
    rows.push(Row {
        what: "embedded replay into machines (events/s)",
        ours: replay,
        baseline: Some(raw_read),
    });
    (append, replay, append / raw_append, replay / raw_read)
}

/// Where replay time goes: decoding alone and folding alone, on the same
/// envelopes (no IO).
fn breakdown(sizes: &Sizes, rows: &mut Vec<Row>) {
    let work = histories(sizes.devices, sizes.append_events / sizes.devices);
    let mut envs: Vec<Envelope> = Vec::new();
    let rounds = work.first().map_or(0, |(_, e)| e.len());
    for r in 0..rounds {
        envs.extend(work.iter().map(|(_, e)| e[r].clone()));
    }
    let bytes: Vec<Vec<u8>> = envs.iter().map(|e| e.encode().unwrap()).collect();
    let mean = bytes.iter().map(Vec::len).sum::<usize>() / bytes.len().max(1);
    let started = now();
    for b in &bytes {
        std::hint::black_box(Envelope::decode(b).unwrap());
    }
    let decode = bytes.len() as f64 / started.elapsed().as_secs_f64();
    let started = now();
    for b in &bytes {
        std::hint::black_box(confkeep::store::codec::decode(b).unwrap());
    }
    let fast = bytes.len() as f64 / started.elapsed().as_secs_f64();
    let started = now();
    let mut fold = Fold::new();
    let mut diffs = Vec::new();
    for (i, e) in envs.iter().enumerate() {
        let _ = fold.apply(i as u64 + 1, e, false, &mut diffs);
    }
    let step = envs.len() as f64 / started.elapsed().as_secs_f64();
    println!("mean envelope size: {mean} bytes");
    rows.push(Row {
        what: "decode, store::codec (events/s)",
        ours: fast,
        baseline: Some(decode),
    });
    rows.push(Row {
        what: "step only (events/s)",
        ours: step,
        baseline: None,
    });
}

fn js_config(url: &str, tag: &str) -> JetStreamConfig {
    let mut c = JetStreamConfig::new(url);
    c.stream = format!("BENCH_{tag}_{}", std::process::id());
    c.subject_prefix = format!("bench.{}.{}", tag.to_lowercase(), std::process::id());
    c
}

/// Raw publishes: same bytes, same headers, same window, one publish in
/// flight per device.
async fn raw_append(
    js: &jetstream::Context,
    prefix: &str,
    work: &[(DeviceId, Vec<Envelope>)],
    window: usize,
) -> f64 {
    let encoded: Vec<(String, Vec<(String, Bytes)>)> = work
        .iter()
        .map(|(d, envs)| {
            let subject = format!("{prefix}.acme.{d}");
            let msgs = envs
                .iter()
                .map(|e| (format!("{d}/{}", e.seq), Bytes::from(e.encode().unwrap())))
                .collect();
            (subject, msgs)
        })
        .collect();
    let started = now();
    let total: u64 = futures::stream::iter(encoded)
        .map(|(subject, msgs)| {
            let js = js.clone();
            async move {
                let mut last = 0;
                let mut n = 0;
                for (id, payload) in msgs {
                    let msg = PublishMessage::build()
                        .payload(payload)
                        .message_id(id)
                        .expected_last_subject_sequence(last);
                    let ack = js
                        .send_publish(subject.clone(), msg)
                        .await
                        .unwrap()
                        .await
                        .unwrap();
                    last = ack.sequence;
                    n += 1;
                }
                n
            }
        })
        .buffer_unordered(window)
        .fold(0, |a, n| async move { a + n })
        .await;
    total as f64 / started.elapsed().as_secs_f64()
}

/// Fill a stream fast: raw publishes without the fence, many in flight.
async fn fill(js: &jetstream::Context, prefix: &str, work: &[(DeviceId, Vec<Envelope>)]) {
    // Interleave devices the way a fleet would, one round of seqs at a time.
    let rounds = work.first().map_or(0, |(_, e)| e.len());
    let mut acks = futures::stream::FuturesUnordered::new();
    for r in 0..rounds {
        for (d, envs) in work {
            let msg = PublishMessage::build().payload(Bytes::from(envs[r].encode().unwrap()));
            acks.push(
                js.send_publish(format!("{prefix}.acme.{d}"), msg)
                    .await
                    .unwrap()
                    .into_future(),
            );
            if acks.len() >= 4096 {
                acks.next().await.unwrap().unwrap();
            }
        }
    }
    while let Some(ack) = acks.next().await {
        ack.unwrap();
    }
}

async fn raw_ordered_read(stream: &jetstream::stream::Stream, prefix: &str, n: u64) -> (f64, f64) {
    let started = now();
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: format!("{prefix}.>"),
            ..Default::default()
        })
        .await
        .unwrap();
    let count = consumer
        .messages()
        .await
        .unwrap()
        .take(n as usize)
        .try_fold(0u64, |c, m| async move {
            std::hint::black_box(&m.payload);
            Ok(c + 1)
        })
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(count, n);
    (n as f64 / secs, secs)
}

async fn jetstream(url: &str, sizes: &Sizes, rows: &mut Vec<Row>) -> (f64, f64, f64) {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .expect("NATS_URL must point at a nats-server with JetStream");
    let js = jetstream::new(client);
    let per_device = sizes.append_events / sizes.devices;
    let work = histories(sizes.devices, per_device);
    let mut cleanup = Vec::new();

    // Append: alternate raw and ours, keep the best of each (noise).
    let (mut raw_best, mut ours_best) = (0f64, 0f64);
    for round in 0..ROUNDS {
        let raw_cfg = js_config(url, &format!("RAW{round}"));
        let _ = JetStreamLog::open(&raw_cfg).await.unwrap(); // same stream settings
        cleanup.push(raw_cfg.stream.clone());
        raw_best =
            raw_best.max(raw_append(&js, &raw_cfg.subject_prefix, &work, sizes.window).await);
        let ours_cfg = js_config(url, &format!("OURS{round}"));
        cleanup.push(ours_cfg.stream.clone());
        let log: Arc<dyn EventLog> = Arc::new(JetStreamLog::open(&ours_cfg).await.unwrap());
        ours_best = ours_best.max(append_pipelined(log, &work, sizes.window).await);
    }
    rows.push(Row {
        what: "jetstream append (events/s)",
        ours: ours_best,
        baseline: Some(raw_best),
    });

    // Replay 1M: one stream, raw ordered read vs replay into machines.
    let cfg = js_config(url, "REPLAY");
    cleanup.push(cfg.stream.clone());
    let log = JetStreamLog::open(&cfg).await.unwrap();
    let per_device = sizes.replay_events / sizes.devices;
    fill(
        &js,
        &cfg.subject_prefix,
        &histories(sizes.devices, per_device),
    )
    .await;
    let stream = js.get_stream(&cfg.stream).await.unwrap();
    let n = sizes.devices * per_device;
    let (mut raw_rate, mut ours_rate, mut ours_secs) = (0f64, 0f64, f64::MAX);
    for _ in 0..ROUNDS {
        raw_rate = raw_rate.max(raw_ordered_read(&stream, &cfg.subject_prefix, n).await.0);
        let (rate, secs) = replay_into_machines(&log, n).await;
        ours_rate = ours_rate.max(rate);
        ours_secs = ours_secs.min(secs);
    }
    rows.push(Row {
        what: "jetstream replay into machines (events/s)",
        ours: ours_rate,
        baseline: Some(raw_rate),
    });
    for name in cleanup {
        let _ = js.delete_stream(&name).await;
    }
    (ours_best / raw_best, ours_rate / raw_rate, ours_secs)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes = if full {
        Sizes {
            devices: 2_000,
            append_events: 200_000,
            replay_events: 1_000_000,
            window: 1_000,
        }
    } else {
        Sizes {
            devices: 50,
            append_events: 1_000,
            replay_events: 5_000,
            window: 20,
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = std::env::var("NATS_URL")
        .expect("NATS_URL must point at a nats-server with JetStream (scripts/test starts one)");
    let mut rows = Vec::new();
    // CONFKEEP_BENCH_ONLY=embedded or =jetstream runs one backend (for quick
    // looks only: the JSON line then reports no figures for the other).
    let only = std::env::var("CONFKEEP_BENCH_ONLY").unwrap_or_default();
    breakdown(&sizes, &mut rows);
    let (embedded_append, embedded_replay, embedded_append_ratio, embedded_replay_ratio) =
        if only == "jetstream" {
            (f64::NAN, f64::NAN, f64::NAN, f64::NAN)
        } else {
            rt.block_on(embedded(&sizes, &mut rows))
        };
    let (append_ratio, replay_ratio, replay_secs) = if only == "embedded" {
        (f64::NAN, f64::NAN, f64::NAN)
    } else {
        rt.block_on(jetstream(&url, &sizes, &mut rows))
    };

    println!(
        "{:<44} {:>12} {:>12} {:>7}",
        "figure", "ours", "baseline", "ratio"
    );
    for row in &rows {
        match row.baseline {
            Some(b) => println!(
                "{:<44} {:>12.0} {:>12.0} {:>7.2}",
                row.what,
                row.ours,
                b,
                row.ours / b
            ),
            None => println!("{:<44} {:>12.0} {:>12} {:>7}", row.what, row.ours, "-", "-"),
        }
    }
    println!(
        "{:<44} {:>12.2}",
        format!("jetstream replay of {} events (s)", sizes.replay_events),
        replay_secs
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "log",
            "events_appended": sizes.append_events,
            "events_replayed": sizes.replay_events,
            "jetstream_append_ratio": append_ratio,
            "jetstream_replay_ratio": replay_ratio,
            "jetstream_replay_1m_s": replay_secs,
            "embedded_append_per_s": embedded_append,
            "embedded_replay_per_s": embedded_replay,
            "embedded_append_ratio": embedded_append_ratio,
            "embedded_replay_ratio": embedded_replay_ratio,
        })
    );
}
