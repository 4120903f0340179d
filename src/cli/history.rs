//! `confkeep history DEVICE`: the audit trail of one device — every recorded
//! input, when and by which node, and what it led to at the time — from a
//! running daemon or from the log itself, a page at a time.

use crate::api::requests::{HistoryPage, MAX_PAGE};
use crate::cli::source::{Source, SourceArgs};
use crate::domain::{DeviceId, Envelope, Event, Outcome, Timestamp};
use crate::effects::runner::{Clock, SystemClock};
use crate::effects::snapshot::rfc3339;

/// The audit trail of one device.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: SourceArgs,
    pub device: String,
    /// Print the envelopes as JSON lines.
    #[arg(long)]
    pub json: bool,
    /// Only events recorded since then: RFC 3339 (`2026-12-01T00:00:00Z`)
    /// or a time ago (`2d`, `6h`).
    #[arg(long, value_parser = parse_when)]
    pub since: Option<Timestamp>,
    /// Only events recorded until then (same forms as --since).
    #[arg(long, value_parser = parse_when)]
    pub until: Option<Timestamp>,
    /// Show at most this many events (the oldest first).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Start after this device sequence (what a previous page ended on).
    #[arg(long, default_value_t = 0)]
    pub after: u64,
    /// Stitch in the archive of compacted events first: this folder, or
    /// `<data-dir>/archive` when given without one.
    #[arg(long)]
    #[allow(clippy::option_option)] // absent / flag alone / flag with a folder
    pub archive: Option<Option<std::path::PathBuf>>,
}

/// The archived events of `device` that the page asks for, with what in
/// the archive did not read (said on stderr).
fn archived(args: &Args, device: &DeviceId) -> anyhow::Result<(Vec<Envelope>, usize)> {
    let Some(dir) = &args.archive else {
        return Ok((Vec::new(), 0));
    };
    let dir = match (dir, &args.source.data_dir) {
        (Some(dir), _) => dir.clone(),
        (None, Some(data)) => data.join("archive"),
        (None, None) => anyhow::bail!("--archive without a folder needs --data-dir"),
    };
    let archive = crate::store::archive::Archive::new(dir);
    let mut events = Vec::new();
    let mut problems = 0;
    for (tenant, d) in archive.devices()? {
        if d != *device {
            continue;
        }
        let read = archive.device(&tenant, &d);
        for p in &read.problems {
            eprintln!("archive: {p}");
        }
        problems += read.problems.len();
        events.extend(read.events.into_iter().filter(|e| {
            e.seq > args.after
                && args.since.is_none_or(|s| e.at >= s)
                && args.until.is_none_or(|u| e.at <= u)
        }));
    }
    Ok((events, problems))
}

fn print(args: &Args, env: &Envelope) -> anyhow::Result<()> {
    if args.json {
        println!("{}", serde_json::to_string(env)?);
    } else {
        println!("{}", describe(env));
    }
    Ok(())
}

/// RFC 3339, or a duration meaning that long ago.
pub fn parse_when(text: &str) -> Result<Timestamp, String> {
    if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        let ms = t
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| format!("{text} is before 1970"))?
            .as_millis();
        return Ok(Timestamp(u64::try_from(ms).unwrap_or(u64::MAX)));
    }
    let ago = humantime::parse_duration(text).map_err(|_| {
        format!("{text:?} is neither RFC 3339 (2026-12-01T00:00:00Z) nor a time ago (2d, 6h)")
    })?;
    let now = SystemClock.now().as_millis();
    let ago = u64::try_from(ago.as_millis()).unwrap_or(u64::MAX);
    Ok(Timestamp(now.saturating_sub(ago)))
}

/// One human line per event.
pub fn describe(env: &Envelope) -> String {
    let what = what_happened(env);
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

/// What the event says, in an operator's words (without when, where and
/// what it led to).
pub fn what_happened(env: &Envelope) -> String {
    match &env.event {
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
    }
}

fn tag_list(tags: &[String]) -> String {
    if tags.is_empty() {
        ", no tags".into()
    } else {
        format!(", tags {}", tags.join(","))
    }
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    let device = DeviceId::parse(&args.device)?;
    let source = Source::open(&args.source).await?;
    let mut left = args.limit.unwrap_or(usize::MAX);
    let (old, problems) = archived(&args, &device)?;
    let mut after = args.after;
    for env in old.iter().take(left) {
        print(&args, env)?;
        after = env.seq;
    }
    left = left.saturating_sub(old.len());
    if left == 0 && !old.is_empty() {
        eprintln!("(more: --after {after})");
        return Ok(i32::from(problems > 0));
    }
    let mut page = HistoryPage {
        after,
        limit: left.clamp(1, MAX_PAGE),
        since: args.since,
        until: args.until,
    };
    while left > 0 {
        let got = match source.history(&device, page).await {
            Ok(p) => p,
            Err(e) => return Ok(e.report("history")),
        };
        for env in got.events.iter().take(left) {
            print(&args, env)?;
        }
        left = left.saturating_sub(got.events.len());
        match got.next_after {
            Some(next) if next > page.after => page.after = next,
            _ => return Ok(i32::from(problems > 0)),
        }
        if left == 0 && !args.json {
            eprintln!("(more: --after {})", page.after);
        }
        page.limit = left.clamp(1, MAX_PAGE);
    }
    Ok(0)
}
