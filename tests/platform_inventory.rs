//! The platform's PostgreSQL inventory, read as the collector's role: rows
//! become devices with sealed logins that open (legacy AES-GCM and a real
//! OpenBao transit engine, device first, then profile); snmp rows and rows
//! without credentials are left out and counted; a row that cannot be
//! dialed keeps its problem, naming the column; the only writes are the
//! three `ssh_host_key_*` columns.

#[path = "platform_box/mod.rs"]
mod platform_box;

use confkeep::domain::DeviceId;
use confkeep::effects::credentials::{Column, LegacyKey, Secret, Transit, Vault};
use confkeep::effects::inventory::LoginSource;
use confkeep::effects::inventory::postgres::PgInventory;
use platform_box::{Bao, PlatformDb, Row, legacy_key_text, password_login, tenant};

#[tokio::test]
async fn rows_become_devices_and_what_is_left_out_is_counted() {
    let db = PlatformDb::new().await;
    let bao = Bao::from_env();
    let key_text = legacy_key_text();
    let key = LegacyKey::parse(&key_text).unwrap();
    let t = tenant();
    let seal = |user: &str| key.seal(password_login(user, "pw").as_bytes());
    let legacy = db
        .insert(Row {
            tenant: &t,
            ip: Some("192.0.2.1"),
            legacy: Some(seal("legacy-user")),
            ..Row::default()
        })
        .await;
    let transit = db
        .insert(Row {
            tenant: &t,
            ip: Some("192.0.2.2"),
            port: Some(2222),
            transit: Some(bao.encrypt(&t, &password_login("transit-user", "pw")).await),
            // The device's transit comes before its legacy value.
            legacy: Some(seal("not-this-one")),
            ..Row::default()
        })
        .await;
    let profile = db
        .profile(
            Some(seal("profile-legacy")),
            Some(bao.encrypt(&t, &password_login("profile-user", "pw")).await),
        )
        .await;
    let via_profile = db
        .insert(Row {
            tenant: &t,
            ip: Some("192.0.2.3"),
            profile: Some(&profile),
            host_key: Some("SHA256:known"),
            ..Row::default()
        })
        .await;
    let bad_port = db
        .insert(Row {
            tenant: &t,
            ip: Some("192.0.2.4"),
            port: Some(70_000),
            legacy: Some(seal("u")),
            ..Row::default()
        })
        .await;
    let no_address = db
        .insert(Row {
            tenant: &t,
            legacy: Some(seal("u")),
            ..Row::default()
        })
        .await;
    for row in [
        Row {
            tenant: &t,
            ip: Some("192.0.2.9"),
            device_type: Some("snmp"),
            legacy: Some(seal("u")),
            ..Row::default()
        },
        Row {
            tenant: &t,
            ip: Some("192.0.2.10"),
            ..Row::default()
        },
    ] {
        db.insert(row).await;
    }

    let pg = PgInventory::new(&db.collector_url).unwrap();
    let (inventory, notes) = pg.read().await.unwrap();
    assert_eq!(
        (notes.rows, notes.snmp, notes.without_credentials),
        (7, 1, 1)
    );
    assert_eq!(inventory.devices.len(), 5);
    let get = |id: &str| &inventory.devices[&DeviceId::parse(id).unwrap()];
    assert_eq!(
        (get(&transit).host.as_str(), get(&transit).port),
        ("192.0.2.2", 2222)
    );
    assert_eq!(get(&legacy).port, 22, "NULL ssh_port means 22");
    assert_eq!(
        get(&via_profile).known_host_key.as_deref(),
        Some("SHA256:known")
    );
    let problem = get(&bad_port).problem.clone().unwrap();
    assert!(
        problem.contains("devices.ssh_port") && problem.contains("70000"),
        "{problem}"
    );
    let problem = get(&no_address).problem.clone().unwrap();
    assert!(problem.contains("devices.ip_address"), "{problem}");

    let vault = Vault {
        legacy: Some(LegacyKey::parse(&key_text).unwrap()),
        transit: Some(Transit::new(&bao.addr, &bao.token)),
    };
    for (id, column, user) in [
        (&legacy, Column::DeviceLegacy, "legacy-user"),
        (&transit, Column::DeviceTransit, "transit-user"),
        (&via_profile, Column::ProfileTransit, "profile-user"),
    ] {
        let LoginSource::Sealed(sealed) = &get(id).login else {
            panic!("{id}: not sealed");
        };
        assert_eq!(sealed.column, column, "{id}");
        let login = vault.open(sealed).await.unwrap();
        assert_eq!(login.user, user);
        assert_eq!(login.secret, Secret::Password("pw".into()));
    }

    // A value sealed under another tenant's transit key does not open, and
    // the failure names the column and the key, never the secret.
    let other = tenant();
    let wrong = db
        .insert(Row {
            tenant: &t,
            ip: Some("192.0.2.5"),
            transit: Some(bao.encrypt(&other, &password_login("u", "hunter2")).await),
            ..Row::default()
        })
        .await;
    let (inventory, _) = pg.read().await.unwrap();
    let LoginSource::Sealed(sealed) = &inventory.devices[&DeviceId::parse(&wrong).unwrap()].login
    else {
        panic!("not sealed");
    };
    let e = vault.open(sealed).await.unwrap_err().to_string();
    assert!(
        e.contains("devices.encrypted_credentials_transit") && e.contains(&format!("tenant_{t}")),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
}

#[tokio::test]
async fn the_collector_writes_only_the_host_key_columns() {
    let db = PlatformDb::new().await;
    let t = tenant();
    let key = LegacyKey::parse(&legacy_key_text()).unwrap();
    let id = db
        .insert(Row {
            tenant: &t,
            ip: Some("192.0.2.1"),
            legacy: Some(key.seal(password_login("u", "p").as_bytes())),
            ..Row::default()
        })
        .await;
    let device = DeviceId::parse(&id).unwrap();
    let pg = PgInventory::new(&db.collector_url).unwrap();

    // An operator's accept: trusted, not yet verified.
    assert_eq!(
        pg.trust_host_key(&device, "SHA256:a", false).await.unwrap(),
        1
    );
    assert_eq!(
        db.host_key(&id).await,
        (Some("SHA256:a".into()), true, false)
    );
    let seen = first_seen(&db, &id).await;
    // A verified backup: last_verified moves, first_seen is kept.
    assert_eq!(pg.host_key_verified(&device, "SHA256:a").await.unwrap(), 1);
    assert_eq!(
        db.host_key(&id).await,
        (Some("SHA256:a".into()), true, true)
    );
    assert_eq!(first_seen(&db, &id).await, seen);
    // Another key never overwrites through "verified".
    assert_eq!(pg.host_key_verified(&device, "SHA256:b").await.unwrap(), 0);
    assert_eq!(db.host_key(&id).await.0.as_deref(), Some("SHA256:a"));
    // A reset clears the three.
    assert_eq!(pg.forget_host_key(&device).await.unwrap(), 1);
    assert_eq!(db.host_key(&id).await, (None, false, false));

    // The role the box grants cannot write anything else: the test proves
    // the grant, so the collector's queries above are what it allows.
    let collector = sqlx::PgPool::connect(&db.collector_url).await.unwrap();
    let e = sqlx::query("UPDATE devices SET hostname = 'x'")
        .execute(&collector)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("permission denied"), "{e}");
}

#[tokio::test]
async fn a_database_that_cannot_be_reached_is_an_error_naming_it() {
    let pg = PgInventory::new("postgres://collector:secret@127.0.0.1:1/platform").unwrap();
    let e = pg.read().await.unwrap_err().to_string();
    assert!(e.contains("127.0.0.1:1/platform"), "{e}");
    assert!(!e.contains("secret"), "{e}");
}

async fn first_seen(db: &PlatformDb, id: &str) -> String {
    sqlx::query_scalar("SELECT ssh_host_key_first_seen::text FROM devices WHERE id::text = $1")
        .bind(id)
        .fetch_one(&db.admin)
        .await
        .unwrap()
}
