//! `confkeep host-key accept DEVICE FINGERPRINT` / `confkeep host-key reset
//! DEVICE`: an operator decides about a device blocked on a changed host key.
//! `accept` trusts the given fingerprint (verify it on the console first);
//! `reset` forgets the trusted key so the next collection trusts what it sees.

use crate::cli::http::{ApiArgs, ApiClient, error_text};

/// Accept or reset a device's trusted host key.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Trust this fingerprint (`SHA256:...`, as `ssh-keygen -l` prints it).
    Accept { device: String, fingerprint: String },
    /// Forget the trusted key: the next collection trusts what it sees.
    Reset { device: String },
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    let (device, path, body) = match &args.action {
        Action::Accept {
            device,
            fingerprint,
        } => (
            device,
            format!("/v1/devices/{device}/host-key/accept"),
            Some(serde_json::json!({ "fingerprint": fingerprint })),
        ),
        Action::Reset { device } => (device, format!("/v1/devices/{device}/host-key/reset"), None),
    };
    let (code, answer) = ApiClient::from_args(&args.api)?
        .call("POST", &path, body)
        .await?;
    if code == 202 {
        println!("recorded for {device}");
        return Ok(0);
    }
    eprintln!("confkeep host-key: {}", error_text(&answer));
    Ok(if code == 404 { 3 } else { 1 })
}
