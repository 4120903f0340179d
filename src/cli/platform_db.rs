//! The platform's database, for operators without the platform:
//! `confkeep db migrate` creates the `devices` and `credential_profiles`
//! tables where they are absent (never altering or dropping what exists),
//! and `confkeep credentials encrypt` seals a login the way the platform
//! does (AES-256-GCM under `CREDENTIAL_ENCRYPTION_KEY`), printing it as a
//! bytea literal or writing it to a device's row.
//!
//! Both are the operator's tools, run with the operator's role; the
//! collector itself never runs migrations (its role may write only the
//! `ssh_host_key_*` columns).

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::effects::credentials::LegacyKey;

/// `confkeep db …`.
#[derive(Debug, clap::Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DbCommand {
    /// Create the platform's inventory tables where absent.
    Migrate {
        /// The database (a role that may create tables).
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
    },
}

/// `confkeep credentials …`.
#[derive(Debug, clap::Args)]
pub struct CredentialsArgs {
    #[command(subcommand)]
    pub command: CredentialsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CredentialsCommand {
    /// Seal a login for `devices.encrypted_credentials` (key from
    /// CREDENTIAL_ENCRYPTION_KEY). The password is read from standard input.
    Encrypt {
        #[arg(long)]
        username: String,
        /// Seal an SSH private key (this file) instead of a password.
        #[arg(long)]
        private_key_file: Option<PathBuf>,
        /// Write it to this device's row instead of printing it.
        #[arg(long)]
        device: Option<String>,
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
    },
}

pub async fn db(args: DbArgs) -> anyhow::Result<i32> {
    match args.command {
        DbCommand::Migrate { database_url } => {
            let pool = sqlx::PgPool::connect(&database_url)
                .await
                .with_context(|| {
                    format!(
                        "cannot connect to {}",
                        crate::redact::redact_url(&database_url)
                    )
                })?;
            MIGRATOR
                .run(&pool)
                .await
                .context("migration failed; nothing that existed was changed")?;
            println!("inventory tables present (devices, credential_profiles)");
            Ok(0)
        }
    }
}

/// The migrations, carried by the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub async fn credentials(args: CredentialsArgs) -> anyhow::Result<i32> {
    let CredentialsCommand::Encrypt {
        username,
        private_key_file,
        device,
        database_url,
    } = args.command;
    let key = std::env::var("CREDENTIAL_ENCRYPTION_KEY")
        .context("CREDENTIAL_ENCRYPTION_KEY is not set")?;
    let key = LegacyKey::parse(&key)?;
    let plaintext = match &private_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("private key {}", path.display()))?;
            serde_json::json!({"type": "ssh_key", "username": username, "private_key": text})
        }
        None => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                bail!("no password on standard input");
            }
            serde_json::json!({"type": "routeros", "username": username, "password": password})
        }
    };
    let sealed = key.seal(plaintext.to_string().as_bytes());
    let Some(device) = device else {
        println!("\\x{}", hex::encode(&sealed));
        return Ok(0);
    };
    let url = database_url.context("--device needs --database-url or DATABASE_URL")?;
    let pool = sqlx::PgPool::connect(&url)
        .await
        .with_context(|| format!("cannot connect to {}", crate::redact::redact_url(&url)))?;
    let rows = sqlx::query("UPDATE devices SET encrypted_credentials = $2 WHERE id::text = $1")
        .bind(&device)
        .bind(&sealed)
        .execute(&pool)
        .await
        .context("writing devices.encrypted_credentials")?
        .rows_affected();
    if rows == 0 {
        eprintln!("confkeep credentials encrypt: no device {device} in devices");
        return Ok(3);
    }
    println!("devices.encrypted_credentials written for {device}");
    Ok(0)
}
