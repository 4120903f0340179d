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
//!
//! `cargo bench --bench projections` runs the full size; without `--bench`
//! (e.g. `cargo test --benches`) it runs small as a smoke test. Prints a
//! table, then one JSON line.

use std::collections::HashMap;
use std::time::Instant;

use confkeep::api::DevicesResponse;
use confkeep::api::requests::{DEFAULT_DEVICES_PAGE, DeviceQuery, device_query};
use confkeep::domain::{DeviceId, DeviceState, Envelope, Event, TenantId, Timestamp, step};
use confkeep::projections::status::{DeviceStatus, StatusBoard};
use confkeep::store::fold::sample_history;

const T0: u64 = 1_700_000_000_000;
/// Events per device go 10..=20 (15 on average) so the fleet ends spread
/// over phases (idle, jitter, running, backoff), not all in one.
const PER_DEVICE: (u64, u64) = (10, 11);
const TENANTS: u64 = 50;

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

    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| board fold, events per s (best of {rounds}) | {fold_rate:.0} |");
    println!("| bare fold (step only), events per s | {bare_rate:.0} |");
    println!(
        "| fold ratio (board / bare) | {:.2} |",
        fold_rate / bare_rate
    );
    println!("| one pass over every device (summary), p50 ms | {pass_ms:.3} |");
    println!("| facets (tenants and tags), p50 ms | {facets_ms:.3} |");
    println!("| to_vec of {DEFAULT_DEVICES_PAGE} rows alone, p50 ms | {rows_ms:.3} |");
    print_mix("GET /v1/devices", &board, now, &api);
    print_mix("fleet page", &board, now, &web);
    println!();
    println!("total {:.1} s", started.elapsed().as_secs_f64());

    let (devices_ms, fleet_ms) = (&api[0].0, &web[0].0);
    println!(
        "{}",
        serde_json::json!({
            "bench": "projections",
            "fold_events_per_s": fold_rate,
            "bare_events_per_s": bare_rate,
            "fold_ratio": fold_rate / bare_rate,
            "devices_p50_ms": pct(devices_ms, 50),
            "devices_p99_ms": pct(devices_ms, 99),
            "devices_ratio": pct(devices_ms, 50) / pass_ms,
            "page_bytes_ms": rows_ms,
            "fleet_page_p50_ms": pct(fleet_ms, 50),
            "fleet_page_p99_ms": pct(fleet_ms, 99),
            "fleet_page_bytes": web[0].1,
        })
    );
}
