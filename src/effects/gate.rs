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
//!
//! Redis down, at start-up or mid-run, costs no backup: the connection is
//! made lazily and remade on the next use, every call is bounded by
//! [`CALL_BUDGET`], and a failed call means "online, no lock". The gate and
//! the lock are used again from the first call that Redis answers. That it
//! went and came back is said once each, not per attempt.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// The longest one Redis call may hold an attempt back.
pub const CALL_BUDGET: Duration = Duration::from_millis(500);

/// The Redis-backed gate; `None` inside means no Redis is configured.
#[derive(Clone)]
pub struct Gate {
    redis: Option<ConnectionManager>,
    prefix: String,
    /// Whether the last call failed (to say the outage and its end once).
    down: Arc<AtomicBool>,
}

const RELEASE: &str = r#"if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end"#;

impl Gate {
    /// A gate that always proceeds (no Redis configured).
    pub fn disabled() -> Self {
        Gate {
            redis: None,
            prefix: String::new(),
            down: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A gate on the Redis at `url`, connected at its first use (and again
    /// after a failure), so a Redis that is down now is used once it
    /// answers. Only a URL that cannot be parsed is an error. `prefix` is
    /// prepended to every key (empty in production; tests use their own).
    pub fn connect(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_BUDGET))
            .set_response_timeout(Some(CALL_BUDGET))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let manager = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Gate {
            redis: Some(manager),
            prefix: prefix.to_owned(),
            down: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Run one call within the budget; `None` when it failed or took too
    /// long (said once per outage).
    async fn call<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        let outcome = match tokio::time::timeout(CALL_BUDGET, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", CALL_BUDGET.as_millis())),
        };
        match outcome {
            Ok(v) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis answers again: online gate and backup lock in use");
                }
                Some(v)
            }
            Err(e) => {
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, during = what, "Redis unavailable: devices count as online and backups go on without the lock until it answers");
                }
                None
            }
        }
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
        let status: Option<Option<String>> = self
            .call("online check", conn.get(self.status_key(device)))
            .await;
        if let Some(Some(s)) = &status
            && s.trim().eq_ignore_ascii_case("offline")
        {
            return GateDecision::Offline;
        }
        let key = self.lock_key(device);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut set = redis::cmd("SET");
        set.arg(&key).arg(token).arg("NX").arg("PX").arg(ms);
        let taken: Option<Option<String>> = self.call("lock", set.query_async(&mut conn)).await;
        match taken {
            Some(Some(_)) => GateDecision::Proceed(Some(LockToken {
                key,
                token: token.to_owned(),
            })),
            Some(None) => GateDecision::LockHeld,
            None => GateDecision::Proceed(None),
        }
    }

    /// Release a lock we hold (only if it is still ours).
    pub async fn release(&self, lock: LockToken) {
        let Some(redis) = &self.redis else {
            return;
        };
        let mut conn = redis.clone();
        let script = redis::Script::new(RELEASE);
        let mut invocation = script.key(&lock.key);
        invocation.arg(&lock.token);
        let released: Option<i64> = self
            .call("lock release", invocation.invoke_async(&mut conn))
            .await;
        if released.is_none() {
            tracing::debug!(key = %lock.key, "backup lock not released; it expires by its TTL");
        }
    }
}
