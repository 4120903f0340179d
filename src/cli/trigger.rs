//! `confkeep trigger DEVICE`: ask the running daemon for a backup now and
//! wait for the answer.
//!
//! Exit codes: 0 success, 3 not found, 4 conflict (already running),
//! 5 blocked, 6 failed, 7 skipped (offline or locked), 8 timeout, 1 other.

use crate::api::{TriggerOutcome, TriggerResponse};
use crate::cli::http::{ApiArgs, ApiClient, error_text};
use crate::domain::TriggerReply;

/// Ask for a backup of one device now.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub api: ApiArgs,
    pub device: String,
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    let (code, body) = ApiClient::from_args(&args.api)?
        .call(
            "POST",
            &format!("/v1/devices/{}/trigger", args.device),
            None,
        )
        .await?;
    let Ok(answer) = serde_json::from_slice::<TriggerResponse>(&body) else {
        eprintln!("confkeep trigger: HTTP {code}: {}", error_text(&body));
        return Ok(if code == 404 { 3 } else { 1 });
    };
    println!("{}", serde_json::to_string(&answer.reply)?);
    Ok(match answer.reply {
        TriggerOutcome::Reply(TriggerReply::Success { .. }) => 0,
        TriggerOutcome::Reply(TriggerReply::NotFound) => 3,
        TriggerOutcome::Reply(TriggerReply::Conflict { .. }) => 4,
        TriggerOutcome::Reply(TriggerReply::Blocked { .. }) => 5,
        TriggerOutcome::Reply(TriggerReply::Failed { .. }) => 6,
        TriggerOutcome::Reply(TriggerReply::Skipped { .. }) => 7,
        TriggerOutcome::Timeout { .. } => 8,
    })
}
