//! `confkeep history DEVICE`: the audit trail of one device — every recorded
//! input, when and by which node, and what it led to at the time.

use crate::api::HistoryPageResponse;
use crate::cli::http::{ApiArgs, ApiClient, error_text};
use crate::domain::{Envelope, Event, Outcome};
use crate::effects::snapshot::rfc3339;

/// The audit trail of one device.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub api: ApiArgs,
    pub device: String,
    /// Print the envelopes as JSON lines.
    #[arg(long)]
    pub json: bool,
}

/// One human line per event.
pub fn describe(env: &Envelope) -> String {
    let what = match &env.event {
        Event::Enrolled {
            host,
            port,
            jitter_ms,
            policy,
            tags,
            ..
        } => {
            format!(
                "enrolled {host}:{port} (first backup after {} s, every {} s{})",
                jitter_ms / 1000,
                policy.interval_secs,
                tag_list(tags)
            )
        }
        Event::PolicyChanged { policy } => format!(
            "policy changed: every {} s, retries after {:?} s, {} s per attempt",
            policy.interval_secs, policy.backoff_secs, policy.command_timeout_secs
        ),
        Event::TagsChanged { tags } => format!("tags changed{}", tag_list(tags)),
        Event::TimerFired { timer, .. } => format!("timer {timer:?} fired"),
        Event::AttemptFinished { attempt, outcome } => match outcome {
            Outcome::Collected {
                sha256,
                bytes,
                routeros_version,
                stored_apart,
                ..
            } => {
                let apart = stored_apart.as_ref().map(|a| {
                    format!(
                        "; its snapshot message would be {} bytes, {} over the server's max_payload {}: the text is in object {}",
                        a.message_bytes,
                        a.over_by(),
                        a.max_payload,
                        a.object
                    )
                });
                format!(
                    "attempt {attempt} collected {} ({bytes} bytes, RouterOS {}{})",
                    sha256.get(..12).unwrap_or(sha256),
                    routeros_version.as_deref().unwrap_or("?"),
                    apart.unwrap_or_default()
                )
            }
            Outcome::Skipped { reason } => format!("attempt {attempt} skipped: {reason:?}"),
            Outcome::Failed { kind, message, .. } => {
                format!("attempt {attempt} failed: {}: {message}", kind.name())
            }
        },
        Event::TriggerRequested { request } => format!("trigger requested ({request})"),
        other => other.name().replace('_', " "),
    };
    let after = env
        .after
        .as_ref()
        .map(|a| {
            let next = a
                .deadline
                .map(|(k, t)| format!(", next {k:?} at {}", rfc3339(t)))
                .unwrap_or_default();
            format!(" -> {}{next}", a.phase.name())
        })
        .unwrap_or_default();
    format!(
        "#{:<4} {} [{}] {what}{after}",
        env.seq,
        rfc3339(env.at),
        env.node
    )
}

fn tag_list(tags: &[String]) -> String {
    if tags.is_empty() {
        ", no tags".into()
    } else {
        format!(", tags {}", tags.join(","))
    }
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    let client = ApiClient::from_args(&args.api)?;
    let mut after = 0u64;
    loop {
        let path = format!("/v1/devices/{}/history?after={after}", args.device);
        let (code, body) = client.call("GET", &path, None).await?;
        if code != 200 {
            eprintln!("confkeep history: {}", error_text(&body));
            return Ok(if code == 404 { 3 } else { 1 });
        }
        let page: HistoryPageResponse = serde_json::from_slice(&body)?;
        for env in &page.events {
            if args.json {
                println!("{}", serde_json::to_string(env)?);
            } else {
                println!("{}", describe(env));
            }
        }
        match page.next_after {
            Some(next) if next > after => after = next,
            _ => return Ok(0),
        }
    }
}
