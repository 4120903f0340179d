-- The platform's inventory shape, for operators who run confkeep without
-- the platform. Creates what is absent; never alters or drops what exists
-- (a platform database already has these tables: nothing here touches them).
-- Run with `confkeep db migrate` (never automatically: the collector's role
-- may write only the ssh_host_key_* columns).

CREATE TABLE IF NOT EXISTS credential_profiles (
    id uuid PRIMARY KEY,
    name text,
    encrypted_credentials bytea,
    encrypted_credentials_transit text
);

CREATE TABLE IF NOT EXISTS devices (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    hostname text,
    ip_address text,
    ssh_port integer,
    routeros_version text,
    routeros_major_version integer,
    device_type text,
    encrypted_credentials bytea,
    encrypted_credentials_transit text,
    credential_profile_id uuid REFERENCES credential_profiles (id),
    ssh_host_key_fingerprint text,
    ssh_host_key_first_seen timestamptz,
    ssh_host_key_last_verified timestamptz
);
