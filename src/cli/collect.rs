//! `confkeep collect`: one backup of one router to stdout, to check that
//! confkeep can reach it before it is enrolled.
//!
//! The normalized export goes to stdout; its SHA-256, the host-key
//! fingerprint the router presented and its RouterOS version go to stderr.
//! The exit code says how it went ([`exit_code`]):
//!
//! | code | meaning |
//! |---:|---|
//! | 0 | collected |
//! | 1 | confkeep itself failed (e.g. cannot write stdout) |
//! | 2 | bad arguments (unset password variable, unreadable key file) |
//! | 10 | `auth_failed`: the router refused the credentials |
//! | 11 | `host_key_mismatch`: not the host key given with `--known-host-key` |
//! | 12 | `timeout`: the router answered TCP but did not finish in time |
//! | 13 | `connection_refused` |
//! | 14 | `unreachable`: no route, no answer, or the name does not resolve |
//! | 15 | `truncated`: the export was cut off (no exit status) |
//! | 16 | `invalid_output`: not a complete export, or a RouterOS error |
//! | 17 | `too_large`: the output went past the cap |
//! | 18 | `other`: protocol error, no common algorithm, exec refused |
//!
//! The password is read from an environment variable, never from the
//! command line (where `ps` would show it).

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::{FailureKind, RetryPolicy};
use crate::effects::ssh::{CollectRequest, Collector, DEFAULT_OUTPUT_CAP};

const AFTER_HELP: &str = "\
Exit codes:
   0  collected
   1  confkeep itself failed
   2  bad arguments (unset password variable, unreadable key file)
  10  auth_failed          the router refused the credentials
  11  host_key_mismatch    not the host key given with --known-host-key
  12  timeout              the router answered TCP but did not finish in time
  13  connection_refused
  14  unreachable          no route, no answer, or the name does not resolve
  15  truncated            the export was cut off (no exit status)
  16  invalid_output       not a complete export, or a RouterOS error
  17  too_large            the output went past the cap
  18  other                protocol error, no common algorithm, exec refused";

/// One backup of one router to stdout, to check it can be reached.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The router's address or host name.
    #[arg(long)]
    pub host: String,
    /// SSH port.
    #[arg(long, default_value_t = 22)]
    pub port: u16,
    /// User to log in as.
    #[arg(long)]
    pub user: String,
    /// Name of the environment variable holding the password.
    #[arg(long, value_name = "VAR")]
    pub password_env: String,
    /// A private key file (OpenSSH format), tried before the password.
    #[arg(long, value_name = "FILE")]
    pub private_key: Option<PathBuf>,
    /// The host-key fingerprint the router must present (`SHA256:…`, as
    /// `ssh-keygen -l` prints it). Without it, any key is accepted and shown.
    #[arg(long, value_name = "FP")]
    pub known_host_key: Option<String>,
    /// Also offer SHA-1 key exchange and MACs, ssh-rsa and CBC ciphers (old
    /// RouterOS).
    #[arg(long)]
    pub legacy_algorithms: bool,
    /// Bound on the whole backup, in seconds (default: the policy's command
    /// timeout).
    #[arg(long, value_name = "S", default_value_t = RetryPolicy::default().command_timeout_secs)]
    pub timeout: u64,
    /// Stop past this many bytes of output.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_OUTPUT_CAP)]
    pub output_cap: usize,
    /// The router's RouterOS major version, if known: 6 asks with plain
    /// `/export` first.
    #[arg(long, value_name = "N")]
    pub routeros_major: Option<u32>,
    /// Source address for the connection.
    #[arg(long, value_name = "IP")]
    pub source_address: Option<IpAddr>,
}

/// The process exit code for a failure kind (see the module doc).
pub fn exit_code(kind: &FailureKind) -> i32 {
    match kind {
        FailureKind::AuthFailed => 10,
        FailureKind::HostKeyMismatch { .. } => 11,
        FailureKind::Timeout => 12,
        FailureKind::ConnectionRefused => 13,
        FailureKind::Unreachable => 14,
        FailureKind::Truncated => 15,
        FailureKind::InvalidOutput => 16,
        FailureKind::TooLarge => 17,
        FailureKind::Other | FailureKind::PublishFailed | FailureKind::Abandoned => 18,
    }
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    let Ok(password) = std::env::var(&args.password_env) else {
        eprintln!(
            "confkeep collect: environment variable {} (--password-env) is not set",
            args.password_env
        );
        return Ok(2);
    };
    let private_key = match &args.private_key {
        None => None,
        Some(path) => match russh::keys::load_secret_key(path, None) {
            Ok(key) => Some(Arc::new(key)),
            Err(e) => {
                eprintln!("confkeep collect: private key {}: {e}", path.display());
                return Ok(2);
            }
        },
    };
    if args.timeout == 0 {
        eprintln!("confkeep collect: --timeout must be at least 1 second");
        return Ok(2);
    }
    let request = CollectRequest {
        private_key,
        trusted_host_key: args.known_host_key.clone(),
        routeros_major: args.routeros_major,
        timeout: Duration::from_secs(args.timeout),
        output_cap: args.output_cap,
        legacy: args.legacy_algorithms,
        source_address: args.source_address,
        ..CollectRequest::new(&args.host, args.port, &args.user, password)
    };
    let target = format!("{}:{}", args.host, args.port);
    match Collector::new().collect(&request).await {
        Ok(collected) => {
            std::io::stdout().write_all(collected.normalized.as_bytes())?;
            std::io::stdout().flush()?;
            eprintln!(
                "confkeep collect: {target}: RouterOS {} via `{}`{}, {} bytes normalized, {:.2} s",
                collected.routeros_version,
                collected.command.command_line(),
                if collected.retried {
                    " (asked twice)"
                } else {
                    ""
                },
                collected.normalized.len(),
                collected.duration.as_secs_f64()
            );
            eprintln!("sha256: {}", collected.sha256);
            eprintln!("host key: {}", collected.host_key);
            eprintln!("routeros version: {}", collected.routeros_version);
            Ok(0)
        }
        Err(failure) => {
            eprintln!(
                "confkeep collect: {target}: {}: {}",
                failure.kind.name(),
                failure.message
            );
            if let Some(key) = &failure.host_key {
                eprintln!("host key: {key}");
            }
            if let Some(major) = failure.routeros_major {
                eprintln!("routeros major: {major}");
            }
            Ok(exit_code(&failure.kind))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_kind_has_its_own_documented_code() {
        let kinds = [
            FailureKind::AuthFailed,
            FailureKind::HostKeyMismatch {
                presented: String::new(),
            },
            FailureKind::Timeout,
            FailureKind::ConnectionRefused,
            FailureKind::Unreachable,
            FailureKind::Truncated,
            FailureKind::InvalidOutput,
            FailureKind::TooLarge,
            FailureKind::Other,
        ];
        let codes: std::collections::BTreeSet<i32> = kinds.iter().map(exit_code).collect();
        assert_eq!(codes.len(), kinds.len());
        for kind in &kinds {
            let line = format!("{:>4}  {}", exit_code(kind), kind.name());
            assert!(AFTER_HELP.contains(&line), "--help lacks {line:?}");
        }
    }
}
