#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
//! The status projection at 100 000 devices: folding the log into the
//! board, and reading it back as `GET /v1/devices` and as the fleet page.
//!
//! 1. Fold: 100 000 sample histories of 10 to 20 events (1.5 M envelopes),
//!    interleaved round-robin by event index as a shared log interleaves
//!    devices, folded into a [`StatusBoard`]. Baseline in the same run: the
//!    same envelopes through the pure machine alone (`step` into a
//!    `HashMap` of states). `fold_ratio` = board events/s ÷ bare events/s
//!    (below 1: the board also keeps phase counts, coverage, blocked ticks).
//! 2. `GET /v1/devices`: what the handler does (parse the query string,
//!    [`DevicesResponse::of`], `serde_json::to_vec`) for a mix of queries,
//!    p50/p99 per kind. `devices_ratio` = the unfiltered page's p50 ÷ one
//!    bare pass over every device (`board.summary(now)`): how many fleet
//!    passes one request costs. The bytes of a page alone (`to_vec` of 100
//!    rows) are shown beside it.
//! 3. The fleet page: [`confkeep::web::fleet_html`] for the same mix,
//!    p50/p99 and the HTML's size.
//! 4. SQL read model (only with `DATABASE_URL`; a database of its own is
//!    created and dropped): [`ReadModel::catch_up`] from empty over 20 000
//!    devices' histories (≈300 k events) in a [`MemoryLog`], appended device
//!    by device, then again in the shared round-robin order (each batch then
//!    upserts [`BATCH`] status rows, not ≈130). Baseline in the same run and
//!    database: the same rows, built and bound before the clock, into a
//!    plain table (same history columns, no key or index), one `INSERT …
//!    SELECT … FROM UNNEST` per [`BATCH`] in a transaction each.
//!    `read_model_ratio` = catch-up events/s ÷ bare rows/s (below 1: the
//!    read model also encodes, folds, keeps a key and an index, upserts
//!    status rows). The target: 50 000 events/s.
//! 5. Webhook fan-out: 2 000 notifications of ≈400 bytes to each of four
//!    local receivers (`POST /hook`, 204), one task per receiver delivering
//!    in turn as the daemon's notifiers do, via [`Receiver::deliver`].
//!    Baseline: the same requests through a plain `reqwest` client (the
//!    crate's TLS setup). `webhook_ratio` = ours ÷ bare deliveries/s, each
//!    the best of the rounds, the two alternating.
//!
//! `cargo bench --bench projections` runs the full size; without `--bench`
//! (e.g. `cargo test --benches`) it runs small as a smoke test. Prints a
//! table, then one JSON line.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use confkeep::api::DevicesResponse;
use confkeep::api::requests::{DEFAULT_DEVICES_PAGE, DeviceQuery, device_query};
use confkeep::domain::{DeviceId, DeviceState, Envelope, Event, TenantId, Timestamp, step};
use confkeep::effects::notify::Receiver;
use confkeep::projections::sql::{BATCH, ReadModel};
use confkeep::projections::status::{DeviceStatus, StatusBoard};
use confkeep::store::fold::sample_history;
use confkeep::store::{EventLog, MemoryLog};
use futures::FutureExt;
use sqlx::PgPool;

const T0: u64 = 1_700_000_000_000;
/// Events per device go 10..=20 (15 on average) so the fleet ends spread
/// over phases (idle, jitter, running, backoff), not all in one.
const PER_DEVICE: (u64, u64) = (10, 11);
const TENANTS: u64 = 50;
/// Devices for the read model (full, small): ≈300 k events keep the run
/// short; the target is a rate, which this many batches measure well.
const SQL_DEVICES: (u64, u64) = (20_000, 200);
const TARGET_EVENTS_PER_S: f64 = 50_000.0;
const RECEIVERS: usize = 4;
/// Notifications per receiver (full, small).
const SENDS: (usize, usize) = (2_000, 50);
const HOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The query mix, by name: `tag=` works because [`fleet_log`] tags the
/// enrolments (sample histories carry none).
const KINDS: [(&str, &str); 6] = [
    ("all", ""),
    ("phase", "phase=auth_blocked"),
    ("tag", "tag=core"),
    ("tenant", "tenant=tenant-07"),
    ("search", "q=rb-0123"),
    ("offset", "offset=50000"),
];

/// Every device's sample history, round-robin by event index; each
/// device starts a little later than the one before so times interleave.
fn fleet_log(devices: u64) -> Vec<Envelope> {
    let histories: Vec<Vec<Envelope>> = (0..devices)
        .map(|d| {
            let device = DeviceId::parse(&format!("rb-{d:05}")).unwrap();
            let tenant = TenantId::parse(&format!("tenant-{:02}", d % TENANTS)).unwrap();
            let start = Timestamp(T0 + (d % 3_600) * 1_000);
            let events = PER_DEVICE.0 + d % PER_DEVICE.1;
            let mut h = sample_history(&device, &tenant, start, events);
            let tag = if d % 10 == 0 { "core" } else { "edge" };
            for env in &mut h {
                if let Event::Enrolled { tags, .. } = &mut env.event {
                    *tags = vec![tag.to_owned()];
                }
            }
            h
        })
        .collect();
    let mut iters: Vec<_> = histories.into_iter().map(Vec::into_iter).collect();
    let mut log = Vec::new();
    loop {
        let before = log.len();
        log.extend(iters.iter_mut().filter_map(Iterator::next));
        if log.len() == before {
            break;
        }
    }
    log
}

/// The board folded from the log (global sequence 1..N), and the seconds.
fn fold_board(log: &[Envelope]) -> (StatusBoard, f64) {
    let t0 = Instant::now();
    let mut board = StatusBoard::new();
    for (i, env) in log.iter().enumerate() {
        board.apply(i as u64 + 1, env);
    }
    (board, t0.elapsed().as_secs_f64())
}

/// The bare fold: the machine alone, one state per device. Returns the
/// devices (so the work is used) and the seconds.
fn fold_bare(log: &[Envelope]) -> (usize, f64) {
    let t0 = Instant::now();
    let mut states: HashMap<DeviceId, DeviceState> = HashMap::new();
    for env in log {
        let state = states
            .entry(env.device.clone())
            .or_insert_with(|| DeviceState::new(env.device.clone(), env.tenant.clone()));
        let t = step(state, env);
        *state = t.state;
    }
    (states.len(), t0.elapsed().as_secs_f64())
}

/// Best events/s of each fold over `rounds`, the two alternating (the
/// machine is shared: the best is the least disturbed); the last board.
fn folds(log: &[Envelope], rounds: usize) -> (StatusBoard, f64, f64) {
    let n = log.len() as f64;
    let (mut board_rate, mut bare_rate, mut last) = (0f64, 0f64, None);
    for _ in 0..rounds {
        let (devices, s) = fold_bare(log);
        bare_rate = bare_rate.max(n / s);
        drop(last.take());
        let (board, s) = fold_board(log);
        assert_eq!(board.len(), devices);
        board_rate = board_rate.max(n / s);
        last = Some(board);
    }
    (last.unwrap(), board_rate, bare_rate)
}

/// Milliseconds of `calls` rounds of `f` over every kind of the mix (kinds
/// interleaved so noise spreads over all), per kind; and `f`'s last size.
fn time_mix(calls: usize, mut f: impl FnMut(&str) -> usize) -> Vec<(Vec<f64>, usize)> {
    let mut out = vec![(Vec::with_capacity(calls), 0); KINDS.len()];
    for _ in 0..calls {
        for (k, (_, query)) in KINDS.iter().enumerate() {
            let t0 = Instant::now();
            let size = f(query);
            out[k].0.push(t0.elapsed().as_secs_f64() * 1e3);
            out[k].1 = size;
        }
    }
    for (v, _) in &mut out {
        v.sort_by(f64::total_cmp);
    }
    out
}

/// The `p`th percentile of sorted values.
fn pct(sorted: &[f64], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn parse(query: &str) -> DeviceQuery {
    device_query(Some(query), DEFAULT_DEVICES_PAGE).expect("the mix's queries are valid")
}

/// What `GET /v1/devices` does, from the query string to the body's bytes.
fn devices_body(board: &StatusBoard, query: &str, now: Timestamp) -> usize {
    let answer = DevicesResponse::of(board, &parse(query), now);
    serde_json::to_vec(&answer).unwrap().len()
}

/// Median milliseconds of `f` over `calls` calls.
fn median_ms(calls: usize, mut f: impl FnMut() -> usize) -> f64 {
    let mut v: Vec<f64> = (0..calls)
        .map(|_| {
            let t0 = Instant::now();
            std::hint::black_box(f());
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(f64::total_cmp);
    pct(&v, 50)
}

fn print_mix(title: &str, board: &StatusBoard, now: Timestamp, mix: &[(Vec<f64>, usize)]) {
    println!();
    println!("| {title} | matching | p50 ms | p99 ms | bytes |");
    println!("|---|---|---|---|---|");
    for ((name, query), (ms, bytes)) in KINDS.iter().zip(mix) {
        let q = parse(query);
        let matching = board.query(&q.filter, 0, 1, now).matching;
        println!(
            "| {name} `{query}` | {matching} | {:.2} | {:.2} | {bytes} |",
            pct(ms, 50),
            pct(ms, 99)
        );
    }
}

/// Events/s of the read model's catch-up in two log orders, and of the bare
/// insert of the same rows.
struct SqlRates {
    events: usize,
    by_device: f64,
    shared: f64,
    bare: f64,
}

fn with_database(url: &str, db: &str) -> String {
    let mut u = reqwest::Url::parse(url).expect("DATABASE_URL is a URL");
    u.set_path(&format!("/{db}"));
    u.to_string()
}

/// The read-model figures in a database of their own, dropped even when a
/// step panics (leftovers would pile up on a shared server).
async fn read_model_section(server: &str, devices: u64) -> SqlRates {
    let name = format!("ck_bench_{:08x}", rand::random::<u32>());
    let root = PgPool::connect(server)
        .await
        .expect("PostgreSQL at DATABASE_URL");
    let create = format!("CREATE DATABASE {name}");
    sqlx::query(&create).execute(&root).await.unwrap();
    let url = with_database(server, &name);
    let run = std::panic::AssertUnwindSafe(sql_rates(&url, devices));
    let run = run.catch_unwind().await;
    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    let _ = sqlx::query(&drop).execute(&root).await;
    run.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

async fn sql_rates(url: &str, devices: u64) -> SqlRates {
    let pool = PgPool::connect(url).await.unwrap();
    let log = fleet_log(devices);
    let bare = bare_insert(&pool, &log).await;
    let by_device = catch_up(&pool, &log, false).await;
    // Empty tables again, whatever the read model names them.
    let reset = "DROP SCHEMA public CASCADE; CREATE SCHEMA public;";
    sqlx::raw_sql(reset).execute(&pool).await.unwrap();
    let shared = catch_up(&pool, &log, true).await;
    let events = log.len();
    SqlRates {
        events,
        by_device,
        shared,
        bare,
    }
}

/// `log` in a [`MemoryLog`]: one append per event in `fleet_log`'s order
/// (`shared`, as a log shared by many devices grows), or one per device with
/// all its events (the log then runs device by device).
async fn memory_log(log: &[Envelope], shared: bool) -> Arc<dyn EventLog> {
    let memory: Arc<dyn EventLog> = Arc::new(MemoryLog::new());
    let mut sorted = log.to_vec();
    if !shared {
        sorted.sort_by(|a, b| (&a.device, a.seq).cmp(&(&b.device, b.seq)));
    }
    let same = |a: &Envelope, b: &Envelope| !shared && a.device == b.device;
    for events in sorted.chunk_by(same) {
        let (device, after) = (&events[0].device, events[0].seq - 1);
        memory.append(device, after, events.to_vec()).await.unwrap();
    }
    memory
}

/// Events/s of one catch-up over `log` from empty tables (`open`, which
/// creates them, is not timed).
async fn catch_up(pool: &PgPool, log: &[Envelope], shared: bool) -> f64 {
    let memory = memory_log(log, shared).await;
    let mut model = ReadModel::open(pool.clone(), memory).await.unwrap();
    let t0 = Instant::now();
    let written = model.catch_up(None).await.unwrap();
    assert_eq!(written, log.len() as u64);
    written as f64 / t0.elapsed().as_secs_f64()
}

const BARE_TABLE: &str = "CREATE TABLE bare_history (global_seq bigint, device_id text, \
    tenant_id text, seq bigint, recorded_at timestamptz, node text, event text, \
    phase_after text, correlation text, detail jsonb)";
const BARE_INSERT: &str = "INSERT INTO bare_history \
    SELECT g, d, t, s, to_timestamp(a / 1000.0), n, e, p, c, x \
    FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], \
    $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[]) \
    AS u(g, d, t, s, a, n, e, p, c, x)";

type BareQuery = sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// One batch's `INSERT` of the rows the read model writes, bound (so
/// encoded) already; `first` is the batch's first global position.
fn bare_batch(first: usize, c: &[Envelope]) -> BareQuery {
    let text = |f: fn(&Envelope) -> String| c.iter().map(f).collect::<Vec<_>>();
    let int = |f: fn(&Envelope) -> u64| c.iter().map(|e| f(e) as i64).collect::<Vec<_>>();
    let opt = |f: fn(&Envelope) -> Option<String>| c.iter().map(f).collect::<Vec<_>>();
    let detail = |e: &Envelope| serde_json::to_value(&e.event).unwrap();
    let global: Vec<i64> = (first..first + c.len()).map(|g| g as i64).collect();
    sqlx::query(BARE_INSERT)
        .bind(global)
        .bind(text(|e| e.device.to_string()))
        .bind(text(|e| e.tenant.to_string()))
        .bind(int(|e| e.seq))
        .bind(int(|e| e.at.as_millis()))
        .bind(text(|e| e.node.clone()))
        .bind(text(|e| e.event.name().to_owned()))
        .bind(opt(|e| Some(e.after.as_ref()?.phase.name().to_owned())))
        .bind(opt(|e| e.correlation.clone()))
        .bind(c.iter().map(detail).collect::<Vec<_>>())
}

/// Rows/s of the bare baseline: only the database's part is timed.
async fn bare_insert(pool: &PgPool, log: &[Envelope]) -> f64 {
    sqlx::raw_sql(BARE_TABLE).execute(pool).await.unwrap();
    let batches: Vec<BareQuery> = (log.chunks(BATCH).enumerate())
        .map(|(i, chunk)| bare_batch(i * BATCH + 1, chunk))
        .collect();
    let t0 = Instant::now();
    for query in batches {
        let mut tx = pool.begin().await.unwrap();
        query.execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }
    log.len() as f64 / t0.elapsed().as_secs_f64()
}

/// A receiver answering 204 to `POST /hook`, reading the body as a real
/// one does (an unread body can cost the connection its reuse).
async fn hook_server() -> String {
    let answer = |_: axum::body::Bytes| async { axum::http::StatusCode::NO_CONTENT };
    let app = axum::Router::new().route("/hook", axum::routing::post(answer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A `config.changed` notification as the daemon posts it (its fields and
/// the diff's size), ≈400 bytes.
fn hook_body() -> bytes::Bytes {
    let hash = |c: char| c.to_string().repeat(64);
    let body = serde_json::json!({
        "id": "rb-01234/17/config.changed", "event": "config.changed",
        "device": "rb-01234", "tenant": "tenant-07", "at": T0, "seq": 17,
        "phase": "idle", "old_hash": hash('a'), "new_hash": hash('b'),
        "reason": "scheduled backup: /export differs from the last snapshot",
        "diff": { "added": 12, "removed": 3 },
    });
    serde_json::to_vec(&body).unwrap().into()
}

/// Deliveries/s of `sends` POSTs to each URL, one task per receiver, in
/// turn within it: through [`Receiver::deliver`] (`ours`) or a plain
/// client (the body not even copied). Clients are built (TLS roots
/// loaded) before the clock starts.
async fn fan_out(urls: &[String], body: &bytes::Bytes, sends: usize, ours: bool) -> f64 {
    let tasks: Vec<_> = (urls.iter())
        .map(|url| {
            let receiver = Receiver::webhook(url, HOOK_TIMEOUT).expect("TLS set up");
            let http = confkeep::effects::credentials::http_client(HOOK_TIMEOUT).unwrap();
            let (url, body) = (url.clone(), body.clone());
            async move {
                for _ in 0..sends {
                    if ours {
                        receiver.deliver(&body, &[], HOOK_TIMEOUT).await.unwrap();
                        continue;
                    }
                    let post = http.post(&url).body(body.clone());
                    let post = post.header(reqwest::header::CONTENT_TYPE, "application/json");
                    assert_eq!(post.send().await.unwrap().status(), 204);
                }
            }
        })
        .collect();
    let t0 = Instant::now();
    for task in tasks.into_iter().map(tokio::spawn).collect::<Vec<_>>() {
        task.await.unwrap();
    }
    (urls.len() * sends) as f64 / t0.elapsed().as_secs_f64()
}

/// Best deliveries/s of ours and of bare over `rounds`, alternating; the
/// body's size.
async fn webhooks(sends: usize, rounds: usize) -> (f64, f64, usize) {
    let mut urls = Vec::new();
    for _ in 0..RECEIVERS {
        urls.push(hook_server().await);
    }
    let body = hook_body();
    let (mut ours, mut bare) = (0f64, 0f64);
    for _ in 0..rounds {
        bare = bare.max(fan_out(&urls, &body, sends, false).await);
        ours = ours.max(fan_out(&urls, &body, sends, true).await);
    }
    (ours, bare, body.len())
}

fn print_sql(sql: &SqlRates) {
    let (n, by_device, shared, bare) = (sql.events, sql.by_device, sql.shared, sql.bare);
    let (ratio, shared_ratio) = (by_device / bare, shared / bare);
    let met = |r: f64| ["NOT met", "met"][usize::from(r >= TARGET_EVENTS_PER_S)];
    let (met, shared_met) = (met(by_device), met(shared));
    println!("| read model catch-up of {n} events, device by device, per s | {by_device:.0} |");
    println!("| read model catch-up, shared (round-robin) order, per s | {shared:.0} |");
    println!("| bare insert (UNNEST per {BATCH}, one tx each), rows per s | {bare:.0} |");
    println!("| read model ratio (device by device / bare) | {ratio:.2} |");
    println!("| read model ratio (shared order / bare) | {shared_ratio:.2} |");
    println!("| target 50 000 events per s | {met} device by device, {shared_met} shared |");
}

fn print_hooks((ours, bare, bytes): (f64, f64, usize), sends: usize, rounds: usize) {
    let (n, ratio) = (format!("{RECEIVERS} × {sends} of {bytes} B"), ours / bare);
    println!("| webhook fan-out, {n}, deliveries per s (best of {rounds}) | {ours:.0} |");
    println!("| bare reqwest, same requests, deliveries per s | {bare:.0} |");
    println!("| webhook ratio (ours / bare) | {ratio:.2} |");
}

/// The read model's keys, present only when it ran.
fn sql_keys(out: &mut serde_json::Value, sql: &SqlRates) {
    let keys = serde_json::json!({
        "read_model_events": sql.events,
        "read_model_events_per_s": sql.by_device,
        "read_model_bare_rows_per_s": sql.bare,
        "read_model_ratio": sql.by_device / sql.bare,
        "read_model_target_met": sql.by_device >= TARGET_EVENTS_PER_S,
        "read_model_shared_order_events_per_s": sql.shared,
        "read_model_shared_order_ratio": sql.shared / sql.bare,
        "read_model_shared_order_target_met": sql.shared >= TARGET_EVENTS_PER_S,
    });
    for (k, v) in keys.as_object().unwrap() {
        out[k] = v.clone();
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (devices, rounds, calls) = if full { (100_000, 3, 200) } else { (500, 1, 5) };
    let started = Instant::now();
    let log = fleet_log(devices);
    let now = log.iter().map(|e| e.at).max().unwrap().plus_secs(60);
    println!(
        "{} envelopes over {devices} devices built in {:.1} s",
        log.len(),
        started.elapsed().as_secs_f64()
    );

    let (board, fold_rate, bare_rate) = folds(&log, rounds);
    drop(log);
    let phases: Vec<String> = board
        .summary(now)
        .phases
        .iter()
        .map(|(p, n)| format!("{p} {n}"))
        .collect();
    println!("phases at the end: {}", phases.join(", "));

    let api = time_mix(calls, |q| devices_body(&board, q, now));
    let web = time_mix(calls, |q| {
        confkeep::web::fleet_html("bench", &board, &parse(q), now)
            .unwrap()
            .len()
    });
    // The baselines: one pass over every device, and a page's bytes alone.
    let pass_ms = median_ms(calls, || board.summary(now).stale);
    let rows: Vec<DeviceStatus> = board.rows().take(DEFAULT_DEVICES_PAGE).collect();
    let rows_ms = median_ms(calls, || serde_json::to_vec(&rows).unwrap().len());
    let facets_ms = median_ms(calls, || board.facets().tags.len());

    let rt = tokio::runtime::Runtime::new().unwrap();
    let sql = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty());
    let sql_devices = if full { SQL_DEVICES.0 } else { SQL_DEVICES.1 };
    let sql = sql.map(|url| rt.block_on(read_model_section(&url, sql_devices)));
    if sql.is_none() {
        println!("read model: skipped (no DATABASE_URL)");
    }
    let sends = if full { SENDS.0 } else { SENDS.1 };
    let hooks = rt.block_on(webhooks(sends, rounds));

    println!();
    println!("| figure | value |");
    println!("|---|---|");
    let fold_ratio = fold_rate / bare_rate;
    println!("| board fold, events per s (best of {rounds}) | {fold_rate:.0} |");
    println!("| bare fold (step only), events per s | {bare_rate:.0} |");
    println!("| fold ratio (board / bare) | {fold_ratio:.2} |");
    println!("| one pass over every device (summary), p50 ms | {pass_ms:.3} |");
    println!("| facets (tenants and tags), p50 ms | {facets_ms:.3} |");
    println!("| to_vec of {DEFAULT_DEVICES_PAGE} rows alone, p50 ms | {rows_ms:.3} |");
    sql.iter().for_each(print_sql);
    print_hooks(hooks, sends, rounds);
    print_mix("GET /v1/devices", &board, now, &api);
    print_mix("fleet page", &board, now, &web);
    println!();
    println!("total {:.1} s", started.elapsed().as_secs_f64());

    let (devices_ms, fleet_ms) = (&api[0].0, &web[0].0);
    let mut out = serde_json::json!({
        "bench": "projections",
        "fold_events_per_s": fold_rate,
        "bare_events_per_s": bare_rate,
        "fold_ratio": fold_ratio,
        "devices_p50_ms": pct(devices_ms, 50),
        "devices_p99_ms": pct(devices_ms, 99),
        "devices_ratio": pct(devices_ms, 50) / pass_ms,
        "page_bytes_ms": rows_ms,
        "fleet_page_p50_ms": pct(fleet_ms, 50),
        "fleet_page_p99_ms": pct(fleet_ms, 99),
        "fleet_page_bytes": web[0].1,
        "webhook_deliveries_per_s": hooks.0,
        "webhook_bare_deliveries_per_s": hooks.1,
        "webhook_ratio": hooks.0 / hooks.1,
    });
    sql.iter().for_each(|s| sql_keys(&mut out, s));
    println!("{out}");
}
