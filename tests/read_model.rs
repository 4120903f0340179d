//! The SQL read model in a real PostgreSQL (a database of its own): a log
//! of 40 devices' histories is written in part, the projector "restarts"
//! (a new one, from the checkpoint), writes the rest, and the tables then
//! hold exactly the in-memory board's rows and one history row per event;
//! replaying everything again from zero changes nothing.

use std::sync::Arc;

use confkeep::domain::{DeviceId, TenantId, Timestamp};
use confkeep::projections::sql::ReadModel;
use confkeep::projections::status::StatusBoard;
use confkeep::store::{StoreConfig, fold::sample_history};
use futures::StreamExt;
use sqlx::{PgPool, Row};

fn server_url() -> String {
    std::env::var("DATABASE_URL").expect("DATABASE_URL (scripts/test starts a PostgreSQL)")
}

/// A new database on the test server, its pool, and its name.
async fn database() -> (PgPool, String) {
    let server = server_url();
    let root = PgPool::connect(&server)
        .await
        .expect("PostgreSQL reachable");
    let name = format!("ck_rm_{}", std::process::id());
    let name = format!("{name}_{}", rand::random::<u32>());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&root)
        .await
        .unwrap();
    root.close().await;
    let mut url = reqwest::Url::parse(&server).unwrap();
    url.set_path(&format!("/{name}"));
    (PgPool::connect(url.as_str()).await.unwrap(), name)
}

async fn sql_rows(pool: &PgPool) -> Vec<(String, String, Option<String>, i64, i64, Option<i64>)> {
    sqlx::query(
        "SELECT device_id, phase, last_hash, seq, events,
                (extract(epoch FROM last_success) * 1000)::bigint AS last_success_ms
           FROM backup_device_status ORDER BY device_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        (
            r.get("device_id"),
            r.get("phase"),
            r.get("last_hash"),
            r.get("seq"),
            r.get("events"),
            r.get("last_success_ms"),
        )
    })
    .collect()
}

#[tokio::test]
async fn the_tables_match_the_board_after_a_restart_mid_stream() {
    let dir = tempfile::tempdir().unwrap();
    let log = confkeep::store::open(&StoreConfig::Embedded {
        data_dir: dir.path().to_owned(),
    })
    .await
    .unwrap();
    let tenant = TenantId::parse("acme").unwrap();
    for i in 0..40u64 {
        let device = DeviceId::parse(&format!("r{i:02}")).unwrap();
        let history = sample_history(
            &device,
            &tenant,
            Timestamp(1_700_000_000_000 + i),
            20 + i % 7,
        );
        log.append(&device, 0, history).await.unwrap();
    }
    let mut board = StatusBoard::new();
    let mut all = log.replay(1);
    let mut events = 0i64;
    while let Some(Ok((global, env))) = all.next().await {
        board.apply(global, &env);
        events += 1;
    }
    let log: Arc<dyn confkeep::store::EventLog> = log;
    let (pool, _name) = database().await;

    let mut first = ReadModel::open(pool.clone(), log.clone()).await.unwrap();
    assert_eq!(first.catch_up(Some(333)).await.unwrap(), 333);
    drop(first);
    // Rows that lag their checkpoint (a crash between two row writes) are
    // written again from the fold when the projector opens.
    sqlx::query("UPDATE backup_device_status SET phase = 'stale-row'")
        .execute(&pool)
        .await
        .unwrap();
    let mut second = ReadModel::open(pool.clone(), log.clone()).await.unwrap();
    assert_eq!(second.checkpoint(), 333, "resumes from its checkpoint");
    let lagging: i64 =
        sqlx::query_scalar("SELECT count(*) FROM backup_device_status WHERE phase = 'stale-row'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        lagging, 0,
        "every row written from the fold at the checkpoint"
    );
    // Compaction waits on what the tables hold: reported from the open on.
    let (tx, written) = tokio::sync::watch::channel(0);
    second.report_to(tx);
    assert_eq!(*written.borrow(), 333);
    let rest = second.catch_up(None).await.unwrap();
    assert_eq!(rest as i64, events - 333);
    assert_eq!(*written.borrow(), second.checkpoint());
    assert_eq!(second.checkpoint() as i64, events, "every write reported");

    let expected: Vec<_> = board
        .rows()
        .map(|r| {
            (
                r.device.clone(),
                r.phase.name().to_owned(),
                r.last_hash.clone(),
                r.seq as i64,
                r.events as i64,
                r.last_success.map(|t| t.as_millis() as i64),
            )
        })
        .collect();
    let rows = sql_rows(&pool).await;
    assert_eq!(rows, expected, "the same rows as the in-memory board");
    let history: i64 = sqlx::query_scalar("SELECT count(*) FROM backup_history")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(history, events, "one history row per event");

    // From zero again over the same tables: nothing changes.
    sqlx::query("UPDATE backup_read_model_checkpoint SET global_seq = 0")
        .execute(&pool)
        .await
        .unwrap();
    let mut again = ReadModel::open(pool.clone(), log.clone()).await.unwrap();
    assert_eq!(again.catch_up(None).await.unwrap() as i64, events);
    assert_eq!(sql_rows(&pool).await, expected);
    let history: i64 = sqlx::query_scalar("SELECT count(*) FROM backup_history")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(history, events);
    pool.close().await;
}
