//! One contract, three backends: the same checks against the in-memory log,
//! the embedded redb log and JetStream (a real nats-server from `NATS_URL`;
//! the JetStream tests fail when it is not set).
//!
//! Each test uses its own stream name and subject prefix (JetStream) or its
//! own temporary directory (embedded), so they run in parallel.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use confkeep::domain::{DeviceId, Envelope, Event, SCHEMA_VERSION, TenantId, Timestamp};
use confkeep::store::embedded::EmbeddedLog;
use confkeep::store::jetstream::{JetStreamConfig, JetStreamLog};
use confkeep::store::{AppendError, EventLog, MemoryLog, StoreError};
use futures::StreamExt;

// === backends ===

enum Kind {
    Memory(MemoryLog),
    Embedded(tempfile::TempDir),
    JetStream(JetStreamConfig),
}

struct Backend {
    kind: Kind,
    log: Arc<dyn EventLog>,
}

/// nats-server 2.9 removes the account's stream directory when its last
/// stream is deleted, and a create racing with that fails ("error creating
/// store for stream"). Tests delete their streams, so one empty stream that
/// nobody deletes keeps the directory there.
async fn keep_account_alive() {
    let client = async_nats::connect(nats_url()).await.unwrap();
    async_nats::jetstream::new(client)
        .get_or_create_stream(async_nats::jetstream::stream::Config {
            name: "CONFKEEP_TESTS_KEEPALIVE".into(),
            subjects: vec!["confkeep-tests.keepalive".into()],
            ..Default::default()
        })
        .await
        .unwrap();
}

fn nats_url() -> String {
    std::env::var("NATS_URL")
        .expect("NATS_URL must point at a nats-server with JetStream (scripts/test starts one)")
}

/// A name unique to this test run and test.
fn unique(test: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}_{}_{}",
        test.to_uppercase(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Backend {
    async fn memory(_test: &str) -> Self {
        let log = MemoryLog::new();
        Backend {
            kind: Kind::Memory(log.clone()),
            log: Arc::new(log),
        }
    }

    async fn embedded(_test: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = EmbeddedLog::open_dir(dir.path()).unwrap();
        Backend {
            kind: Kind::Embedded(dir),
            log: Arc::new(log),
        }
    }

    async fn jetstream(test: &str) -> Self {
        keep_account_alive().await;
        let name = unique(test);
        let mut config = JetStreamConfig::new(nats_url());
        config.stream = format!("CONFORMANCE_{name}");
        config.subject_prefix = format!("conformance.{}", name.to_lowercase());
        let log = JetStreamLog::open(&config).await.unwrap();
        Backend {
            kind: Kind::JetStream(config),
            log: Arc::new(log),
        }
    }

    /// Another writer on the same log: a new connection for JetStream, a
    /// new handle otherwise (redb allows one process per file).
    async fn another(&self) -> Arc<dyn EventLog> {
        match &self.kind {
            Kind::JetStream(config) => Arc::new(JetStreamLog::open(config).await.unwrap()),
            Kind::Memory(_) | Kind::Embedded(_) => self.log.clone(),
        }
    }

    /// Drop every handle and open the log again, as a restarted process would.
    async fn restart(&mut self) {
        match &self.kind {
            Kind::Memory(log) => self.log = Arc::new(log.clone()),
            Kind::Embedded(dir) => {
                self.log = Arc::new(MemoryLog::new());
                self.log = Arc::new(EmbeddedLog::open_dir(dir.path()).unwrap());
            }
            Kind::JetStream(config) => {
                self.log = Arc::new(MemoryLog::new());
                self.log = Arc::new(JetStreamLog::open(config).await.unwrap());
            }
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Kind::JetStream(config) = &self.kind {
            // Leave the shared server as we found it (best effort).
            let config = config.clone();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(client) = async_nats::connect(config.url.as_str()).await {
                        let _ = async_nats::jetstream::new(client)
                            .delete_stream(&config.stream)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

// === envelopes ===

fn device(name: &str) -> DeviceId {
    DeviceId::parse(name).unwrap()
}

fn env(dev: &str, seq: u64, node: &str) -> Envelope {
    Envelope {
        schema: SCHEMA_VERSION,
        device: device(dev),
        tenant: TenantId::parse("acme").unwrap(),
        seq,
        at: Timestamp(1_700_000_000_000 + seq),
        node: node.to_owned(),
        correlation: Some(format!("{dev}-{seq}")),
        event: Event::TriggerRequested {
            request: format!("req-{dev}-{seq}"),
        },
        after: None,
    }
}

async fn replay_all(log: &dyn EventLog, from: u64) -> Vec<(u64, Envelope)> {
    log.replay(from)
        .map(|item| item.expect("replay item"))
        .collect()
        .await
}

async fn history(log: &dyn EventLog, dev: &str) -> Vec<Envelope> {
    log.device_history(&device(dev))
        .map(|item| item.expect("history item"))
        .collect()
        .await
}

// === the contract ===

async fn sequences(b: Backend) {
    let log = &*b.log;
    let a = device("router-a");
    assert_eq!(log.last_seq(&a).await.unwrap(), 0);
    let n = log
        .append(
            &a,
            0,
            vec![env("router-a", 1, "n1"), env("router-a", 2, "n1")],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    let n = log
        .append(&a, 2, vec![env("router-a", 3, "n1")])
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(log.last_seq(&a).await.unwrap(), 3);
    assert_eq!(log.last_seq(&device("router-b")).await.unwrap(), 0);
    // A stale writer is refused and told where the log is.
    match log.append(&a, 1, vec![env("router-a", 2, "n2")]).await {
        Err(AppendError::Conflict { actual }) => assert_eq!(actual, 3),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Envelopes that do not follow the expected sequence are refused.
    assert!(matches!(
        log.append(&a, 3, vec![env("router-a", 5, "n1")]).await,
        Err(AppendError::Invalid { .. })
    ));
    let seqs: Vec<u64> = history(log, "router-a")
        .await
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}

async fn concurrent_writers(b: Backend) {
    const WRITERS: usize = 8;
    let mut handles = Vec::new();
    for _ in 0..WRITERS {
        handles.push(b.another().await);
    }
    for round in 0..3u64 {
        let tasks: Vec<_> = handles
            .iter()
            .enumerate()
            .map(|(w, log)| {
                let log = log.clone();
                tokio::spawn(async move {
                    let e = env("contended", round + 1, &format!("writer-{w}"));
                    log.append(&device("contended"), round, vec![e]).await
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(n) => {
                    assert_eq!(n, round + 1);
                    winners += 1;
                }
                Err(AppendError::Conflict { actual }) => assert_eq!(actual, round + 1),
                Err(e) => panic!("round {round}: unexpected error {e}"),
            }
        }
        assert_eq!(winners, 1, "round {round}: exactly one writer must win");
    }
    let stored = history(&*b.log, "contended").await;
    assert_eq!(
        stored.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}

async fn idempotent_retry(b: Backend) {
    let log = &*b.log;
    let d = device("retried");
    let first = vec![env("retried", 1, "n1"), env("retried", 2, "n1")];
    assert_eq!(log.append(&d, 0, first.clone()).await.unwrap(), 2);
    // The acknowledgement was lost; the writer sends the same envelopes again.
    assert_eq!(log.append(&d, 0, first.clone()).await.unwrap(), 2);
    assert_eq!(log.append(&d, 1, first[1..].to_vec()).await.unwrap(), 2);
    // A different envelope under the same sequence is not a retry.
    match log
        .append(&d, 1, vec![env("retried", 2, "other-node")])
        .await
    {
        Err(AppendError::Conflict { actual }) => assert_eq!(actual, 2),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(history(log, "retried").await, first);
    assert_eq!(replay_all(log, 0).await.len(), 2);
}

async fn replay_order(b: Backend) {
    let log = &*b.log;
    let mut appended = Vec::new();
    let mut seqs: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..60u64 {
        let dev = format!("dev-{}", (i * 7) % 5);
        let seq = seqs.entry(dev.clone()).or_default();
        let e = env(&dev, *seq + 1, "n1");
        log.append(&device(&dev), *seq, vec![e.clone()])
            .await
            .unwrap();
        *seq += 1;
        appended.push(e);
    }
    let all = replay_all(log, 0).await;
    let globals: Vec<u64> = all.iter().map(|(g, _)| *g).collect();
    assert!(globals.windows(2).all(|w| w[0] < w[1]), "{globals:?}");
    let envs: Vec<Envelope> = all.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(envs, appended);
    // From a position: exactly the suffix.
    let (g20, _) = &all[20];
    let suffix = replay_all(log, *g20).await;
    assert_eq!(suffix, all[20..].to_vec());
    assert!(replay_all(log, globals[59] + 1).await.is_empty());
}

async fn one_device_among_many(b: Backend) {
    let log = &*b.log;
    for seq in 1..=5u64 {
        for d in 0..20 {
            let dev = format!("fleet-{d}");
            log.append(&device(&dev), seq - 1, vec![env(&dev, seq, "n1")])
                .await
                .unwrap();
        }
    }
    let h = history(log, "fleet-7").await;
    assert_eq!(
        h,
        (1..=5).map(|s| env("fleet-7", s, "n1")).collect::<Vec<_>>()
    );
    // A device whose name is a prefix of others sees only its own events.
    let h1 = history(log, "fleet-1").await;
    assert!(h1.iter().all(|e| e.device.as_str() == "fleet-1"));
    assert_eq!(h1.len(), 5);
    assert!(history(log, "nobody").await.is_empty());
}

async fn tail_without_gaps(b: Backend) {
    let log = b.log.clone();
    for seq in 1..=3u64 {
        log.append(&device("early"), seq - 1, vec![env("early", seq, "n1")])
            .await
            .unwrap();
    }
    let before = replay_all(&*log, 0).await;
    let next = before.last().unwrap().0 + 1;
    // One tail from the middle of the existing events, one from the end.
    let mut from_middle = log.tail(before[1].0);
    let mut from_end = log.tail(next);
    let writer = b.another().await;
    const NEW: u64 = 150;
    let task = tokio::spawn(async move {
        let mut seqs = [0u64; 10];
        for i in 0..NEW {
            let d = (i % 10) as usize;
            let dev = format!("live-{d}");
            let e = env(&dev, seqs[d] + 1, "n2");
            writer
                .append(&device(&dev), seqs[d], vec![e])
                .await
                .unwrap();
            seqs[d] += 1;
        }
    });
    let mut seen = Vec::new();
    while (seen.len() as u64) < NEW {
        let item = tokio::time::timeout(Duration::from_secs(20), from_end.next())
            .await
            .expect("tail stalled")
            .expect("tail ended")
            .unwrap();
        seen.push(item);
    }
    task.await.unwrap();
    let after = replay_all(&*log, next).await;
    assert_eq!(
        seen, after,
        "the tail saw exactly what was appended, in order"
    );
    let globals: Vec<u64> = seen.iter().map(|(g, _)| *g).collect();
    assert!(
        globals.windows(2).all(|w| w[1] == w[0] + 1),
        "no gaps: {globals:?}"
    );
    let mut middle = Vec::new();
    while middle.len() < 2 + NEW as usize {
        let item = tokio::time::timeout(Duration::from_secs(20), from_middle.next())
            .await
            .expect("tail stalled")
            .expect("tail ended")
            .unwrap();
        middle.push(item);
    }
    assert_eq!(middle[..2], before[1..]);
    assert_eq!(middle[2..], seen[..]);
}

async fn restart_loses_nothing(mut b: Backend) {
    let mut acked = Vec::new();
    for seq in 1..=20u64 {
        for dev in ["keep-a", "keep-b"] {
            let e = env(dev, seq, "n1");
            b.log
                .append(&device(dev), seq - 1, vec![e.clone()])
                .await
                .unwrap();
            acked.push(e);
        }
    }
    b.restart().await;
    let replayed: Vec<Envelope> = replay_all(&*b.log, 0)
        .await
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    assert_eq!(replayed, acked);
    assert_eq!(b.log.last_seq(&device("keep-b")).await.unwrap(), 20);
    // And the restarted process carries on from there.
    assert_eq!(
        b.log
            .append(&device("keep-a"), 20, vec![env("keep-a", 21, "n1")])
            .await
            .unwrap(),
        21
    );
    assert!(matches!(
        b.log
            .append(&device("keep-b"), 19, vec![env("keep-b", 20, "n9")])
            .await,
        Err(AppendError::Conflict { actual: 20 })
    ));
}

macro_rules! conformance {
    ($check:ident: $($backend:ident),+) => {
        mod $check {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $backend() {
                    super::$check(super::Backend::$backend(stringify!($check)).await).await
                }
            )+
        }
    };
}

conformance!(sequences: memory, embedded, jetstream);
conformance!(concurrent_writers: memory, embedded, jetstream);
conformance!(idempotent_retry: memory, embedded, jetstream);
conformance!(replay_order: memory, embedded, jetstream);
conformance!(one_device_among_many: memory, embedded, jetstream);
conformance!(tail_without_gaps: memory, embedded, jetstream);
conformance!(restart_loses_nothing: embedded, jetstream);

// === bad input and bad set-ups ===

/// An undecodable record stops nothing by itself: the stream names it and
/// goes on (replay decides whether to stop or skip).
#[tokio::test]
async fn jetstream_undecodable_event_is_named() {
    let b = Backend::jetstream("undecodable").await;
    let Kind::JetStream(config) = &b.kind else {
        unreachable!()
    };
    b.log
        .append(&device("good"), 0, vec![env("good", 1, "n1")])
        .await
        .unwrap();
    let client = async_nats::connect(config.url.as_str()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let bad_subject = format!("{}.acme.broken", config.subject_prefix);
    let ack = js
        .publish(bad_subject.clone(), "{not json".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let mut newer = env("broken", 2, "n1");
    newer.schema = SCHEMA_VERSION + 1;
    let ack2 = js
        .publish(
            bad_subject.clone(),
            serde_json::to_vec(&newer).unwrap().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    b.log
        .append(&device("good"), 1, vec![env("good", 2, "n1")])
        .await
        .unwrap();
    let items: Vec<_> = b.log.replay(0).collect().await;
    assert_eq!(items.len(), 4);
    for (item, seq) in [(&items[1], ack.sequence), (&items[2], ack2.sequence)] {
        match item {
            Err(
                e @ StoreError::Decode {
                    location, seq: s, ..
                },
            ) => {
                assert!(location.contains(&bad_subject), "{location}");
                assert_eq!(*s, seq);
                assert!(e.to_string().contains(&bad_subject));
            }
            other => panic!("expected a decode error, got {other:?}"),
        }
    }
    assert!(
        matches!(&items[2], Err(StoreError::Decode { source, .. }) if source.to_string().contains("newer"))
    );
    assert!(items[3].is_ok());
}

#[tokio::test]
async fn embedded_undecodable_event_is_named() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EmbeddedLog::open_dir(dir.path()).unwrap();
        log.append(&device("good"), 0, vec![env("good", 1, "n1")])
            .await
            .unwrap();
    }
    {
        // Damage the record behind the log's back.
        let db = redb::Database::create(dir.path().join("events.redb")).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx
                .open_table(redb::TableDefinition::<u64, &[u8]>::new("events"))
                .unwrap();
            t.insert(1, b"garbage".as_slice()).unwrap();
        }
        tx.commit().unwrap();
    }
    let log = EmbeddedLog::open_dir(dir.path()).unwrap();
    let items: Vec<_> = log.replay(0).collect().await;
    match &items[..] {
        [
            Err(StoreError::Decode {
                location, seq: 1, ..
            }),
        ] => {
            assert!(location.contains("events key 1"), "{location}")
        }
        other => panic!("expected one decode error, got {other:?}"),
    }
}

#[tokio::test]
async fn jetstream_unreachable_server_fails_fast() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = JetStreamConfig::new(format!("nats://127.0.0.1:{port}"));
    config.connect_timeout = Duration::from_secs(2);
    #[allow(clippy::disallowed_methods)] // measuring the real connect time is the point
    let started = std::time::Instant::now();
    let err = JetStreamLog::open(&config).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }));
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn jetstream_refuses_a_stream_that_drops_events() {
    keep_account_alive().await;
    let name = unique("refuse");
    let mut config = JetStreamConfig::new(nats_url());
    config.stream = format!("CONFORMANCE_{name}");
    config.subject_prefix = format!("conformance.{}", name.to_lowercase());
    let client = async_nats::connect(config.url.as_str()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: config.stream.clone(),
        subjects: vec![format!("{}.>", config.subject_prefix)],
        max_messages_per_subject: 10,
        ..Default::default()
    })
    .await
    .unwrap();
    let err = JetStreamLog::open(&config).await.unwrap_err();
    js.delete_stream(&config.stream).await.unwrap();
    match &err {
        StoreError::Misconfigured { setting, .. } => assert_eq!(setting, "discard"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(err.to_string().contains("max_msgs_per_subject"), "{err}");
}

/// JetStream files a device under its tenant's subject; a later event under
/// another tenant is refused by name instead of breaking the sequence.
#[tokio::test]
async fn jetstream_refuses_a_device_changing_tenant() {
    let b = Backend::jetstream("tenant_move").await;
    let d = device("mover");
    b.log
        .append(&d, 0, vec![env("mover", 1, "n1")])
        .await
        .unwrap();
    let mut moved = env("mover", 2, "n1");
    moved.tenant = TenantId::parse("other").unwrap();
    match b.log.append(&d, 1, vec![moved]).await {
        Err(e @ AppendError::Invalid { .. }) => {
            assert!(e.to_string().contains("between tenants"), "{e}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(b.log.last_seq(&d).await.unwrap(), 1);
}
