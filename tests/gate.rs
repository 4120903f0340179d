//! The Redis gate against a real Redis: online status, the backup lock and
//! its checked release. Needs `REDIS_URL` (scripts/test starts a private
//! Redis); each test uses its own key prefix.

use std::time::Duration;

use confkeep::domain::DeviceId;
use confkeep::effects::gate::{Gate, GateDecision};
use redis::AsyncCommands;

fn redis_url() -> String {
    std::env::var("REDIS_URL")
        .expect("REDIS_URL must point at a Redis server (scripts/test starts one)")
}

fn prefix(name: &str) -> String {
    format!("confkeep-test-{}-{name}:", std::process::id())
}

async fn raw() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn offline_devices_are_skipped_and_unknown_status_means_online() {
    let p = prefix("offline");
    let gate = Gate::connect(&redis_url(), &p).await.unwrap();
    let device = DeviceId::parse("r1").unwrap();
    let mut conn = raw().await;
    let _: () = conn.set(gate.status_key(&device), "offline").await.unwrap();
    assert_eq!(
        gate.enter(&device, "t1", Duration::from_secs(5)).await,
        GateDecision::Offline
    );
    let _: () = conn.set(gate.status_key(&device), "online").await.unwrap();
    let GateDecision::Proceed(Some(lock)) = gate.enter(&device, "t1", Duration::from_secs(5)).await
    else {
        panic!("an online device proceeds with the lock");
    };
    gate.release(lock).await;
    let _: () = conn.del(gate.status_key(&device)).await.unwrap();
    assert!(matches!(
        gate.enter(&device, "t2", Duration::from_secs(5)).await,
        GateDecision::Proceed(Some(_))
    ));
}

#[tokio::test]
async fn the_lock_excludes_and_is_released_only_by_its_holder() {
    let p = prefix("lock");
    let gate = Gate::connect(&redis_url(), &p).await.unwrap();
    let device = DeviceId::parse("r2").unwrap();
    let GateDecision::Proceed(Some(mine)) =
        gate.enter(&device, "mine", Duration::from_secs(30)).await
    else {
        panic!("first collector takes the lock");
    };
    assert_eq!(
        gate.enter(&device, "other", Duration::from_secs(30)).await,
        GateDecision::LockHeld
    );
    let mut conn = raw().await;
    let ttl: i64 = conn.pttl(gate.lock_key(&device)).await.unwrap();
    assert!(ttl > 25_000 && ttl <= 30_000, "TTL {ttl} ms");
    // The lock expired and another collector took it: our release must not
    // free theirs.
    let _: () = conn.set(gate.lock_key(&device), "theirs").await.unwrap();
    gate.release(mine).await;
    let holder: Option<String> = conn.get(gate.lock_key(&device)).await.unwrap();
    assert_eq!(holder.as_deref(), Some("theirs"));
    let _: () = conn.del(gate.lock_key(&device)).await.unwrap();
    let GateDecision::Proceed(Some(again)) =
        gate.enter(&device, "mine2", Duration::from_secs(30)).await
    else {
        panic!("a free lock is taken");
    };
    gate.release(again).await;
    let holder: Option<String> = conn.get(gate.lock_key(&device)).await.unwrap();
    assert_eq!(holder, None, "a held lock is released by its holder");
}

#[tokio::test]
async fn without_redis_the_gate_always_proceeds() {
    let gate = Gate::disabled();
    let device = DeviceId::parse("r3").unwrap();
    assert_eq!(
        gate.enter(&device, "t", Duration::from_secs(1)).await,
        GateDecision::Proceed(None)
    );
    // An unreachable Redis is a clear error at connect (the daemon then
    // runs without the gate and says so).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = tokio::time::timeout(
        Duration::from_secs(20),
        Gate::connect(&format!("redis://127.0.0.1:{port}"), "x:"),
    )
    .await
    .expect("connect gives up")
    .err()
    .expect("nothing listens there");
    assert!(!err.to_string().is_empty());
}
