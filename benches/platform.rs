#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
//! The platform's inventory at 100 000 rows (PostgreSQL `devices`).
//!
//! 1. Refresh: [`PgInventory::read`] of every row (query, row decoding,
//!    the inventory built), beside a bare `fetch_all` of the same query in
//!    the same run. Ratio = our rows/s over the bare rows/s.
//! 2. Enrolment: the daemon started on those rows (embedded log), rows/s
//!    from start until every row is enrolled in the log.
//! 3. Unchanged refresh: three refreshes of the same rows record no event.
//!
//! Run: `DATABASE_URL=postgres://… cargo bench --bench platform` (a
//! database of its own is created and dropped). Prints a table and a final
//! JSON line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use confkeep::domain::RetryPolicy;
use confkeep::effects::config::{DaemonConfig, PostgresConfig};
use confkeep::effects::credentials::{LegacyKey, Vault};
use confkeep::effects::inventory::postgres::PgInventory;
use confkeep::effects::runner::SystemClock;
use sqlx::{PgPool, Row};

const ROWS: i64 = 100_000;
const ROUNDS: usize = 5;

fn with_database(url: &str, db: &str) -> String {
    let mut u = reqwest::Url::parse(url).expect("DATABASE_URL is a URL");
    u.set_path(&format!("/{db}"));
    u.to_string()
}

/// A database with `ROWS` devices, every one with a sealed login.
async fn fill(server: &str, name: &str, key: &LegacyKey) -> String {
    let root = PgPool::connect(server).await.expect("PostgreSQL reachable");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&root)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&root)
        .await
        .unwrap();
    root.close().await;
    let url = with_database(server, name);
    let pool = PgPool::connect(&url).await.unwrap();
    confkeep::cli::platform_db::MIGRATOR
        .run(&pool)
        .await
        .unwrap();
    let sealed = key.seal(br#"{"type":"routeros","username":"admin","password":"bench"}"#);
    let t0 = Instant::now();
    sqlx::query(
        "INSERT INTO devices (id, tenant_id, hostname, ip_address, ssh_port, device_type, \
         encrypted_credentials) \
         SELECT md5('dev' || i)::uuid, md5('tenant' || (i % 50))::uuid, 'r' || i, \
         '10.' || (i / 65536) || '.' || (i / 256 % 256) || '.' || (i % 256), 22, 'routeros', $1 \
         FROM generate_series(1, $2::bigint) AS i",
    )
    .bind(sealed)
    .bind(ROWS)
    .execute(&pool)
    .await
    .unwrap();
    println!(
        "{ROWS} rows inserted in {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    pool.close().await;
    url
}

/// The bare baseline: the same query, every row fetched and its columns
/// read, nothing built.
async fn bare_read(pool: &PgPool) -> usize {
    let rows = sqlx::query(confkeep::effects::inventory::postgres::SELECT_DEVICES)
        .fetch_all(pool)
        .await
        .unwrap();
    rows.iter()
        .filter(|r| r.try_get::<Option<String>, _>("ip_address").is_ok())
        .count()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn refresh(url: &str) -> (f64, f64) {
    let pg = PgInventory::new(url).unwrap();
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t0 = Instant::now();
        assert_eq!(bare_read(pg.pool()).await, ROWS as usize);
        bare.push(t0.elapsed().as_secs_f64());
        let t0 = Instant::now();
        let (inv, _) = pg.read().await.unwrap();
        assert_eq!(inv.devices.len(), ROWS as usize);
        ours.push(t0.elapsed().as_secs_f64());
    }
    (median(ours), median(bare))
}

/// Seconds from start until every row is enrolled, and the events beyond
/// one `Enrolled` per row once three more refreshes of the same rows ran
/// (refreshes also ran during the enrolment: none may enrol a row twice).
async fn enrol(url: &str, key_text: &str) -> (f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let config = DaemonConfig {
        node: Some("bench-platform".into()),
        data_dir: dir.path().join("data"),
        postgres: Some(PostgresConfig {
            url: url.to_owned(),
            refresh_secs: 1,
        }),
        policy: RetryPolicy {
            // Nothing is due within the run: enrolment alone is measured.
            jitter_min_secs: 6 * 3600,
            jitter_max_secs: 12 * 3600,
            ..RetryPolicy::default()
        },
        ..DaemonConfig::default()
    };
    let vault = Vault {
        legacy: Some(LegacyKey::parse(key_text).unwrap()),
        transit: None,
    };
    let t0 = Instant::now();
    let mut daemon = confkeep::daemon::start_with_vault(config, Arc::new(SystemClock), vault)
        .await
        .unwrap();
    while daemon.status.lock().unwrap().len() < ROWS as usize {
        daemon.recorded.changed().await.unwrap();
    }
    let enrolled_s = t0.elapsed().as_secs_f64();
    let reloads = daemon.inventory_reloads.borrow().applied;
    while daemon.inventory_reloads.borrow().applied < reloads + 3 {
        daemon.inventory_reloads.changed().await.unwrap();
    }
    // Let anything a refresh might have queued reach the log.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Every event in the log: one `Enrolled` per row, and nothing else.
    let recorded = {
        use futures::StreamExt;
        daemon.log.replay(0).count().await as u64 - ROWS as u64
    };
    daemon.shutdown().await.unwrap();
    (enrolled_s, recorded)
}

fn main() {
    let server = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL: a PostgreSQL server where a database may be created");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let key_text = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode([42u8; 32])
        };
        let key = LegacyKey::parse(&key_text).unwrap();
        let name = format!("ck_bench_platform_{}", std::process::id());
        let url = fill(&server, &name, &key).await;
        let (ours_s, bare_s) = refresh(&url).await;
        let (enrolled_s, unchanged_events) = enrol(&url, &key_text).await;
        let read_per_s = ROWS as f64 / ours_s;
        let bare_per_s = ROWS as f64 / bare_s;
        let enrol_per_s = ROWS as f64 / enrolled_s;
        println!();
        println!("| figure | value |");
        println!("|---|---|");
        println!(
            "| refresh of {ROWS} rows (median of {ROUNDS}), ms | {:.0} |",
            ours_s * 1e3
        );
        println!(
            "| bare fetch_all of the same query, ms | {:.0} |",
            bare_s * 1e3
        );
        println!(
            "| refresh ratio (ours / bare rows per s) | {:.2} |",
            read_per_s / bare_per_s
        );
        println!("| enrolment, rows per s (start to all enrolled) | {enrol_per_s:.0} |");
        println!("| events recorded by 3 unchanged refreshes | {unchanged_events} |");
        println!(
            "{}",
            serde_json::json!({
                "bench": "platform",
                "read_rows_per_s": read_per_s,
                "bare_rows_per_s": bare_per_s,
                "read_ratio": read_per_s / bare_per_s,
                "refresh_ms": ours_s * 1e3,
                "enrol_rows_per_s": enrol_per_s,
                "unchanged_refresh_events": unchanged_events,
            })
        );
        let root = PgPool::connect(&server).await.unwrap();
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&root)
            .await;
    });
}
