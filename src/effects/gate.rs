//! The Redis gate before an attempt: is the device online, and may we take
//! its lock?
//!
//! - Online: `device:{id}:status`. `offline` (any case) means offline; a
//!   missing key, any other value or a Redis error means assume online (a
//!   broken monitoring feed must not stop backups).
//! - Lock: `SET backup:device:{id} <token> NX PX <ttl>` with TTL = command
//!   timeout + 30 s, released by a checked delete (a Lua compare-and-delete),
//!   so a collector never frees a lock another one took after expiry. A
//!   Redis error while locking means proceed without the lock (the log's
//!   per-device sequence remains the fence against double recording).

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::domain::DeviceId;

/// What the gate says about one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateDecision {
    /// Go ahead; release the lock (if any) when done.
    Proceed(Option<LockToken>),
    /// The device is marked offline.
    Offline,
    /// Another collector holds the device's lock.
    LockHeld,
}

/// Proof that we hold a device's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockToken {
    key: String,
    token: String,
}

/// The Redis-backed gate; `None` inside means no Redis is configured.
#[derive(Clone)]
pub struct Gate {
    redis: Option<ConnectionManager>,
    prefix: String,
}

const RELEASE: &str = r#"if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end"#;

impl Gate {
    /// A gate that always proceeds (no Redis configured).
    pub fn disabled() -> Self {
        Gate {
            redis: None,
            prefix: String::new(),
        }
    }

    /// Connect to Redis. `prefix` is prepended to every key (empty in
    /// production; tests use their own).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let manager = ConnectionManager::new(client).await?;
        Ok(Gate {
            redis: Some(manager),
            prefix: prefix.to_owned(),
        })
    }

    pub fn status_key(&self, device: &DeviceId) -> String {
        format!("{}device:{device}:status", self.prefix)
    }

    pub fn lock_key(&self, device: &DeviceId) -> String {
        format!("{}backup:device:{device}", self.prefix)
    }

    /// Check online status and take the lock for `ttl`.
    pub async fn enter(&self, device: &DeviceId, token: &str, ttl: Duration) -> GateDecision {
        let Some(redis) = &self.redis else {
            return GateDecision::Proceed(None);
        };
        let mut conn = redis.clone();
        let status: Result<Option<String>, _> = conn.get(self.status_key(device)).await;
        if let Ok(Some(s)) = &status
            && s.trim().eq_ignore_ascii_case("offline")
        {
            return GateDecision::Offline;
        }
        let key = self.lock_key(device);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let taken: Result<Option<String>, _> = redis::cmd("SET")
            .arg(&key)
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query_async(&mut conn)
            .await;
        match taken {
            Ok(Some(_)) => GateDecision::Proceed(Some(LockToken {
                key,
                token: token.to_owned(),
            })),
            Ok(None) => GateDecision::LockHeld,
            Err(e) => {
                tracing::warn!(device = %device, error = %e, "redis lock unavailable; proceeding without it");
                GateDecision::Proceed(None)
            }
        }
    }

    /// Release a lock we hold (only if it is still ours).
    pub async fn release(&self, lock: LockToken) {
        let Some(redis) = &self.redis else {
            return;
        };
        let mut conn = redis.clone();
        let released: Result<i64, _> = redis::Script::new(RELEASE)
            .key(&lock.key)
            .arg(&lock.token)
            .invoke_async(&mut conn)
            .await;
        if let Err(e) = released {
            tracing::warn!(key = %lock.key, error = %e, "could not release backup lock; it expires by its TTL");
        }
    }
}
