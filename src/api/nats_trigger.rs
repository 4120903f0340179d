//! The platform's manual trigger, over core NATS request-reply: a request
//! `{"device_id", "tenant_id"}` on `config.backup.trigger` (served in a
//! queue group, so one daemon answers each), answered
//! `{"status", "sha256_hash"?, "message"?, "error"?}`.
//!
//! The request is recorded as a `TriggerRequested` event like an HTTP
//! trigger, and the answer is the machine's `Reply` effect: `success` only
//! after the snapshot's acknowledgement, `locked` whenever an attempt is
//! already running (ours, or another collector's lock), `failed`; and what
//! confkeep adds: `blocked`, `not_found`, `timeout`. A malformed request is
//! answered `failed` with an `error` naming the field.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;

use crate::domain::{SkipReason, TriggerReply};
use crate::effects::runner::{Clock, RunnerHandle};

use super::requests;

/// The answer, in the platform's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformReply {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl PlatformReply {
    fn status(status: &'static str) -> Self {
        PlatformReply {
            status,
            sha256_hash: None,
            message: None,
            error: None,
        }
    }

    fn with_message(mut self, m: impl Into<String>) -> Self {
        self.message = Some(m.into());
        self
    }

    fn with_error(mut self, e: impl Into<String>) -> Self {
        self.error = Some(e.into());
        self
    }
}

/// The machine's reply (or `None`: the wait ran out) as the platform reads it.
pub fn platform_reply(reply: Option<TriggerReply>) -> PlatformReply {
    let Some(reply) = reply else {
        return PlatformReply::status("timeout")
            .with_message("the attempt did not end within the wait; it goes on and is recorded");
    };
    match reply {
        TriggerReply::Success { sha256 } => PlatformReply {
            sha256_hash: Some(sha256),
            ..PlatformReply::status("success")
        },
        TriggerReply::Conflict { attempt } => PlatformReply::status("locked")
            .with_message(format!("attempt {attempt} is already running")),
        TriggerReply::Skipped {
            reason: SkipReason::LockHeld,
        } => PlatformReply::status("locked")
            .with_message("another collector holds the device's backup lock"),
        TriggerReply::Skipped {
            reason: SkipReason::Offline,
        } => PlatformReply::status("failed")
            .with_message("skipped")
            .with_error("the device is marked offline (device:{id}:status)"),
        TriggerReply::Blocked { phase, reason } => PlatformReply::status("blocked")
            .with_message(phase.name())
            .with_error(reason),
        TriggerReply::NotFound => {
            PlatformReply::status("not_found").with_message("no such device is backed up")
        }
        TriggerReply::Failed { kind, message } => PlatformReply::status("failed")
            .with_message(kind.name())
            .with_error(message),
    }
}

/// What the trigger service needs of the daemon.
#[derive(Clone)]
pub struct TriggerService {
    pub runner: RunnerHandle,
    pub status: Arc<std::sync::Mutex<crate::projections::status::StatusBoard>>,
    pub clock: Arc<dyn Clock>,
    pub wait: Duration,
    pub node: String,
    pub requests: Arc<AtomicU64>,
}

impl TriggerService {
    /// Answer one request's payload.
    pub async fn answer(&self, payload: &[u8]) -> PlatformReply {
        let request = match requests::trigger(payload) {
            Ok(r) => r,
            Err(e) => return PlatformReply::status("failed").with_error(e.to_string()),
        };
        if let Some(tenant) = &request.tenant {
            let known = self
                .status
                .lock()
                .ok()
                .and_then(|b| b.get(&request.device).map(|r| r.tenant));
            if known.is_some_and(|t| t != tenant.as_str()) {
                return PlatformReply::status("not_found")
                    .with_message(format!("no device {} in tenant {tenant}", request.device));
            }
        }
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let id = format!("nats-{}-{}-{n}", self.node, self.clock.now().as_millis());
        let reply = tokio::time::timeout(self.wait, self.runner.trigger(request.device, id)).await;
        match reply {
            Ok(Some(r)) => platform_reply(Some(r)),
            Ok(None) => PlatformReply::status("failed").with_error("the daemon is stopping"),
            Err(_) => platform_reply(None),
        }
    }

    /// Serve `subject` in queue group `queue` until `stop`: subscribed
    /// (and known to the server) when this returns, answered in a task.
    pub async fn start(
        self,
        client: async_nats::Client,
        subject: String,
        queue: String,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), async_nats::SubscribeError> {
        let requests = client.queue_subscribe(subject.clone(), queue).await?;
        if let Err(e) = client.flush().await {
            tracing::warn!(error = %e, "NATS flush after subscribing to triggers failed");
        }
        tracing::info!(%subject, "manual triggers served on NATS");
        tokio::spawn(self.serve(client, requests, subject, stop));
        Ok(())
    }

    async fn serve(
        self,
        client: async_nats::Client,
        mut requests: async_nats::Subscriber,
        subject: String,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let msg = tokio::select! {
                m = requests.next() => match m { Some(m) => m, None => return },
                _ = stop.changed() => return,
            };
            let Some(reply_to) = msg.reply.clone() else {
                tracing::warn!(%subject, "a trigger request without a reply subject: ignored");
                continue;
            };
            let service = self.clone();
            let client = client.clone();
            tokio::spawn(async move {
                let answer = service.answer(&msg.payload).await;
                let body = serde_json::to_vec(&answer).unwrap_or_default();
                if let Err(e) = client.publish(reply_to, body.into()).await {
                    tracing::warn!(error = %e, "cannot send a trigger reply");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{FailureKind, PhaseKind};

    #[test]
    fn every_reply_has_the_platforms_status() {
        let cases = [
            (
                Some(TriggerReply::Success {
                    sha256: "ab".into(),
                }),
                "success",
            ),
            (Some(TriggerReply::Conflict { attempt: 3 }), "locked"),
            (
                Some(TriggerReply::Skipped {
                    reason: SkipReason::LockHeld,
                }),
                "locked",
            ),
            (
                Some(TriggerReply::Skipped {
                    reason: SkipReason::Offline,
                }),
                "failed",
            ),
            (
                Some(TriggerReply::Blocked {
                    phase: PhaseKind::AuthBlocked,
                    reason: "login refused".into(),
                }),
                "blocked",
            ),
            (Some(TriggerReply::NotFound), "not_found"),
            (
                Some(TriggerReply::Failed {
                    kind: FailureKind::Timeout,
                    message: "no answer".into(),
                }),
                "failed",
            ),
            (None, "timeout"),
        ];
        for (reply, status) in cases {
            assert_eq!(platform_reply(reply.clone()).status, status, "{reply:?}");
        }
        let ok = platform_reply(Some(TriggerReply::Success {
            sha256: "ab".into(),
        }));
        assert_eq!(
            serde_json::to_value(ok).unwrap(),
            serde_json::json!({"status": "success", "sha256_hash": "ab"})
        );
    }
}
