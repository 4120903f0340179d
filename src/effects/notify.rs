//! Delivering a notification, one try: a webhook gets a `POST` of the JSON
//! facts, an exec hook runs with the facts in `CONFKEEP_*` environment
//! variables. Each try has a time limit and says why it failed; when to try
//! again is the caller's (see `daemon::notify`). And a receiver's
//! checkpoint, kept in a file of its own (0600) so that a restart neither
//! fires twice nor skips.
//!
//! A webhook URL can carry a secret (Slack's do), so it is never printed:
//! errors name the receiver and the host only.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Serialize, de::DeserializeOwned};

/// Where a receiver is.
#[derive(Debug, Clone)]
pub enum Receiver {
    Webhook { url: String, http: reqwest::Client },
    Exec { argv: Vec<String> },
}

/// Why one try failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("no answer within {0} s")]
    Timeout(u64),
    #[error("{host} answered {status}")]
    Refused { host: String, status: u16 },
    #[error("{host}: {message}")]
    Unreachable { host: String, message: String },
    #[error("{program} exited with {status}")]
    Exited { program: String, status: String },
    #[error("{program} could not start: {message}")]
    NoStart { program: String, message: String },
}

impl Receiver {
    /// A webhook with the crate's TLS stack; `None` if TLS cannot be set up.
    pub fn webhook(url: &str, timeout: Duration) -> Option<Receiver> {
        Some(Receiver::Webhook {
            url: url.to_owned(),
            http: super::credentials::http_client(timeout)?,
        })
    }

    /// One try, at most `timeout`.
    pub async fn deliver(
        &self,
        body: &[u8],
        env: &[(String, String)],
        timeout: Duration,
    ) -> Result<(), DeliveryError> {
        let secs = timeout.as_secs();
        match tokio::time::timeout(timeout, self.try_once(body, env)).await {
            Ok(Err(DeliveryError::Timeout(_))) | Err(_) => Err(DeliveryError::Timeout(secs)),
            Ok(r) => r,
        }
    }

    async fn try_once(&self, body: &[u8], env: &[(String, String)]) -> Result<(), DeliveryError> {
        match self {
            Receiver::Webhook { url, http } => post(http, url, body).await,
            Receiver::Exec { argv } => run(argv, env).await,
        }
    }
}

/// reqwest's message and its cause ("error sending request" alone says
/// little).
fn with_cause(e: reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "the webhook".into())
}

async fn post(http: &reqwest::Client, url: &str, body: &[u8]) -> Result<(), DeliveryError> {
    let answer = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| {
            // reqwest's own limit (the same) may be the first to end it;
            // `deliver` puts the real number of seconds in.
            if e.is_timeout() {
                DeliveryError::Timeout(0)
            } else {
                DeliveryError::Unreachable {
                    host: host_of(url),
                    message: with_cause(e.without_url()),
                }
            }
        })?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(DeliveryError::Refused {
            host: host_of(url),
            status: status.as_u16(),
        })
    }
}

async fn run(argv: &[String], env: &[(String, String)]) -> Result<(), DeliveryError> {
    let program = argv.first().cloned().unwrap_or_default();
    let mut command = tokio::process::Command::new(&program);
    command
        .args(&argv[1..])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // A hook that outlives its time limit is stopped with it.
        .kill_on_drop(true);
    let status = command.status().await.map_err(|e| DeliveryError::NoStart {
        program: program.clone(),
        message: e.to_string(),
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(DeliveryError::Exited {
            program,
            status: status.to_string(),
        })
    }
}

/// A receiver's checkpoint file: `<data_dir>/notify/<name>.json`.
pub fn checkpoint_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("notify").join(format!("{name}.json"))
}

/// The saved checkpoint, `None` when there is none yet; one that does not
/// read is an error naming the file (the caller decides what to do).
pub fn load_checkpoint<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Save a checkpoint durably: a temporary file (0600) renamed over the old
/// one, so a crash leaves the old or the new, never half of one.
pub fn save_checkpoint<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::private_fs::create_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    f.write_all(&bytes)
        .and_then(|_| f.sync_all())
        .map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}
