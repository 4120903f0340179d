//! The platform's inventory: PostgreSQL `devices` (and `credential_profiles`
//! for the fallback login), read with sqlx, and the one write the
//! collector's role may make: the three `ssh_host_key_*` columns.
//!
//! A row that cannot be dialed (a NULL or invalid address, a port out of
//! range) is still enrolled, with its problem: its attempts fail at once in
//! its own history, naming the column, and the other rows go on. A row
//! with no login in any of the three sources, or of `device_type = 'snmp'`,
//! is not backed up (a device enrolled before retires). Queries are checked
//! at run time (no database at build time); the SQL names the platform's
//! columns exactly.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Row, postgres::PgConnectOptions};

use super::{Inventory, InventoryDevice, LoginSource};
use crate::domain::{DeviceId, TenantId};
use crate::effects::credentials::{Column, Sealed, SealedLogin};

/// The platform's inventory query. Ids are read as text (the crate's ids
/// are strings); a profile is joined for its two fallback columns. Public
/// for the benchmark's bare baseline.
pub const SELECT_DEVICES: &str = "SELECT d.id::text AS id, d.tenant_id::text AS tenant_id, \
     d.hostname, d.ip_address, d.ssh_port, d.device_type, \
     d.encrypted_credentials, d.encrypted_credentials_transit, \
     p.encrypted_credentials AS profile_credentials, \
     p.encrypted_credentials_transit AS profile_credentials_transit, \
     d.ssh_host_key_fingerprint \
     FROM devices d LEFT JOIN credential_profiles p ON p.id = d.credential_profile_id \
     ORDER BY d.id";

/// Why the inventory could not be read at all (the last good one stays).
#[derive(Debug, thiserror::Error)]
pub enum PgInventoryError {
    #[error("PostgreSQL inventory {target}: {source}")]
    Query {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("PostgreSQL inventory {target}: DATABASE_URL is not a PostgreSQL URL: {reason}")]
    Url { target: String, reason: String },
}

/// What one read found besides the devices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadNotes {
    /// Rows read.
    pub rows: usize,
    /// `device_type = 'snmp'` rows, not backed up.
    pub snmp: usize,
    /// Rows with no login in any source, not backed up.
    pub without_credentials: usize,
    /// Rows whose id or tenant is not an id confkeep can use.
    pub unusable: Vec<String>,
}

/// The PostgreSQL inventory: a small pool, connected lazily so that a
/// database that is down at start-up is tried again at each refresh.
#[derive(Debug, Clone)]
pub struct PgInventory {
    pool: PgPool,
    /// Host, port and database, for messages (never the password).
    target: String,
}

impl PgInventory {
    /// A pool for `url`; nothing is connected until the first read.
    pub fn new(url: &str) -> Result<PgInventory, PgInventoryError> {
        let options: PgConnectOptions =
            url.parse()
                .map_err(|e: sqlx::Error| PgInventoryError::Url {
                    target: crate::redact::redact_url(url),
                    reason: e.to_string(),
                })?;
        let target = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        );
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        Ok(PgInventory { pool, target })
    }

    /// `host:port/database`, for the start-up log.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn query_error(&self, source: sqlx::Error) -> PgInventoryError {
        PgInventoryError::Query {
            target: self.target.clone(),
            source,
        }
    }

    /// Read every row: the inventory, and what was left out.
    pub async fn read(&self) -> Result<(Inventory, ReadNotes), PgInventoryError> {
        let rows = sqlx::query(SELECT_DEVICES)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.query_error(e))?;
        let mut devices = BTreeMap::new();
        let mut notes = ReadNotes {
            rows: rows.len(),
            ..ReadNotes::default()
        };
        for row in &rows {
            match device_of(row) {
                Ok(RowRead::Device(d)) => {
                    devices.insert(d.id.clone(), *d);
                }
                Ok(RowRead::Snmp) => notes.snmp += 1,
                Ok(RowRead::NoCredentials) => notes.without_credentials += 1,
                Err(why) => notes.unusable.push(why),
            }
        }
        Ok((
            Inventory {
                devices,
                has_inline_passwords: false,
            },
            notes,
        ))
    }

    /// A key was trusted (first use: just verified by a backup; an
    /// operator's accept: not verified yet). `first_seen` is when this key
    /// was first trusted: kept while the key stays, set anew for a new key.
    pub async fn trust_host_key(
        &self,
        device: &DeviceId,
        fingerprint: &str,
        verified: bool,
    ) -> Result<u64, PgInventoryError> {
        sqlx::query(
            "UPDATE devices SET \
             ssh_host_key_first_seen = CASE WHEN ssh_host_key_fingerprint IS DISTINCT FROM $2 \
               OR ssh_host_key_first_seen IS NULL THEN now() ELSE ssh_host_key_first_seen END, \
             ssh_host_key_fingerprint = $2, \
             ssh_host_key_last_verified = CASE WHEN $3 THEN now() ELSE ssh_host_key_last_verified END \
             WHERE id::text = $1",
        )
        .bind(device.as_str())
        .bind(fingerprint)
        .bind(verified)
        .execute(&self.pool)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| self.query_error(e))
    }

    /// A backup verified the trusted key: `ssh_host_key_last_verified`
    /// moves while the row holds that key. A row that holds none (a
    /// first-use write-back lost while the database was down) gets it
    /// now; a row holding another key is left alone.
    pub async fn host_key_verified(
        &self,
        device: &DeviceId,
        fingerprint: &str,
    ) -> Result<u64, PgInventoryError> {
        sqlx::query(
            "UPDATE devices SET ssh_host_key_last_verified = now(), \
             ssh_host_key_first_seen = COALESCE(ssh_host_key_first_seen, now()), \
             ssh_host_key_fingerprint = $2 \
             WHERE id::text = $1 \
             AND (ssh_host_key_fingerprint IS NULL OR ssh_host_key_fingerprint = $2)",
        )
        .bind(device.as_str())
        .bind(fingerprint)
        .execute(&self.pool)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| self.query_error(e))
    }

    /// The operator reset the key: the row trusts nothing until the next
    /// first use.
    pub async fn forget_host_key(&self, device: &DeviceId) -> Result<u64, PgInventoryError> {
        sqlx::query(
            "UPDATE devices SET ssh_host_key_fingerprint = NULL, \
             ssh_host_key_first_seen = NULL, ssh_host_key_last_verified = NULL \
             WHERE id::text = $1",
        )
        .bind(device.as_str())
        .execute(&self.pool)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| self.query_error(e))
    }
}

enum RowRead {
    Device(Box<InventoryDevice>),
    Snmp,
    NoCredentials,
}

/// A column read that tolerates a type the platform may have chosen
/// differently (a NULL or a mistyped value reads as `None` plus a reason).
fn column<'r, T>(row: &'r PgRow, name: &str) -> Result<Option<T>, String>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get::<Option<T>, _>(name)
        .map_err(|e| format!("devices.{name}: {e}"))
}

/// One row as a device (or why it is left out).
fn device_of(row: &PgRow) -> Result<RowRead, String> {
    let raw_id: String = column(row, "id")?.unwrap_or_default();
    let id = DeviceId::parse(&raw_id).map_err(|e| format!("devices.id {raw_id:?}: {e}"))?;
    let raw_tenant: Option<String> = column(row, "tenant_id")?;
    let tenant = raw_tenant
        .as_deref()
        .ok_or_else(|| format!("device {id}: devices.tenant_id is NULL"))
        .and_then(|t| {
            TenantId::parse(t).map_err(|e| format!("device {id}: devices.tenant_id: {e}"))
        })?;
    let kind: Option<String> = column(row, "device_type")?;
    if kind
        .as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case("snmp"))
    {
        return Ok(RowRead::Snmp);
    }
    let Some(login) = SealedLogin::first_present(
        &tenant,
        [
            (
                Column::DeviceTransit,
                transit(row, "encrypted_credentials_transit"),
            ),
            (Column::DeviceLegacy, legacy(row, "encrypted_credentials")),
            (
                Column::ProfileTransit,
                transit(row, "profile_credentials_transit"),
            ),
            (Column::ProfileLegacy, legacy(row, "profile_credentials")),
        ],
    ) else {
        return Ok(RowRead::NoCredentials);
    };
    let mut problems = Vec::new();
    let host = match column::<String>(row, "ip_address") {
        Ok(Some(a)) if !a.trim().is_empty() => check_address(a.trim(), &mut problems),
        Ok(_) => {
            problems.push("devices.ip_address is NULL or empty".to_owned());
            String::new()
        }
        Err(e) => {
            problems.push(e);
            String::new()
        }
    };
    let port = match column::<i32>(row, "ssh_port") {
        Ok(None) => 22,
        Ok(Some(p)) => u16::try_from(p).ok().filter(|p| *p > 0).unwrap_or_else(|| {
            problems.push(format!("devices.ssh_port {p} is not a TCP port (1-65535)"));
            22
        }),
        Err(e) => {
            problems.push(e);
            22
        }
    };
    let host_key = column::<String>(row, "ssh_host_key_fingerprint")
        .ok()
        .flatten()
        .filter(|k| !k.trim().is_empty());
    let hostname: Option<String> = column(row, "hostname").ok().flatten();
    Ok(RowRead::Device(Box::new(InventoryDevice {
        id,
        tenant,
        host,
        port,
        login: LoginSource::Sealed(login),
        tags: hostname.into_iter().collect(),
        legacy_algorithms: false,
        password_line: 0,
        known_host_key: host_key,
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
    })))
}

/// An address confkeep can dial: an IP address, or a host name (the
/// platform stores addresses, but a name is not wrong). Anything with
/// spaces or control characters is a problem of the row.
fn check_address(a: &str, problems: &mut Vec<String>) -> String {
    let plausible_name = a.len() <= 253
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if a.parse::<std::net::IpAddr>().is_err() && !plausible_name {
        problems.push(format!(
            "devices.ip_address {:?} is not an IP address or host name",
            a.chars().take(64).collect::<String>()
        ));
    }
    a.to_owned()
}

fn transit(row: &PgRow, name: &str) -> Option<Sealed> {
    column::<String>(row, name)
        .ok()
        .flatten()
        .filter(|t| !t.trim().is_empty())
        .map(Sealed::Transit)
}

fn legacy(row: &PgRow, name: &str) -> Option<Sealed> {
    column::<Vec<u8>>(row, name)
        .ok()
        .flatten()
        .filter(|b| !b.is_empty())
        .map(Sealed::Legacy)
}
