//! `confkeep credentials-updated DEVICE`: the operator fixed a device's
//! credentials; it leaves `AuthBlocked` and is tried again promptly.

use crate::cli::http::{ApiArgs, ApiClient, error_text};

/// Tell confkeep a blocked device's credentials were fixed.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub api: ApiArgs,
    pub device: String,
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    let path = format!("/v1/devices/{}/credentials-updated", args.device);
    let (code, body) = ApiClient::from_args(&args.api)?
        .call("POST", &path, None)
        .await?;
    if code == 202 {
        println!("recorded: {} credentials updated", args.device);
        return Ok(0);
    }
    eprintln!("confkeep credentials-updated: {}", error_text(&body));
    Ok(if code == 404 { 3 } else { 1 })
}
