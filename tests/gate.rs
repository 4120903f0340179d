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
    let gate = Gate::connect(&redis_url(), &p).unwrap();
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
    let gate = Gate::connect(&redis_url(), &p).unwrap();
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
}

/// A private redis-server on `port`, killed on drop.
struct OwnRedis(std::process::Child);

impl OwnRedis {
    async fn start(port: u16) -> OwnRedis {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH (scripts/test installs it)");
        let url = format!("redis://127.0.0.1:{port}");
        let ready = async {
            loop {
                if let Ok(c) = redis::Client::open(url.as_str())
                    && let Ok(mut conn) = c.get_multiplexed_async_connection().await
                    && redis::cmd("PING")
                        .query_async::<String>(&mut conn)
                        .await
                        .is_ok()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), ready)
            .await
            .expect("redis-server answers");
        OwnRedis(child)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Enter until the gate says `want` (the first calls after Redis comes
/// back may still meet the old connection's failure).
async fn until_gate(gate: &Gate, device: &DeviceId, want: fn(&GateDecision) -> bool) {
    let wait = async {
        loop {
            let d = gate.enter(device, "t", Duration::from_secs(5)).await;
            if want(&d) {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("the gate followed Redis");
}

#[tokio::test]
async fn a_redis_down_at_start_or_mid_run_costs_no_attempt_and_is_used_once_it_answers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    // Nothing listens yet: the gate is made anyway, and lets attempts go.
    let gate = Gate::connect(&url, "own:").unwrap();
    let device = DeviceId::parse("r4").unwrap();
    for _ in 0..3 {
        let d = tokio::time::timeout(
            Duration::from_secs(5),
            gate.enter(&device, "t", Duration::from_secs(5)),
        )
        .await
        .expect("an unreachable Redis holds no attempt back");
        assert_eq!(d, GateDecision::Proceed(None));
    }
    // Redis comes up: its status key and the lock are used.
    let redis = OwnRedis::start(port).await;
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = conn.set(gate.status_key(&device), "offline").await.unwrap();
    until_gate(&gate, &device, |d| *d == GateDecision::Offline).await;
    let _: () = conn.del(gate.status_key(&device)).await.unwrap();
    until_gate(&gate, &device, |d| {
        matches!(d, GateDecision::Proceed(Some(_)))
    })
    .await;
    // Down mid-run: attempts go on without it; back: the lock again.
    drop(redis);
    until_gate(&gate, &device, |d| *d == GateDecision::Proceed(None)).await;
    let _redis = OwnRedis::start(port).await;
    until_gate(&gate, &device, |d| {
        matches!(d, GateDecision::Proceed(Some(_)))
    })
    .await;
}
