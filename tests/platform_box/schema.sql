-- The platform's inventory tables as the platform creates them (the shape
-- the collector reads; a few columns it does not read are kept to show it
-- needs none of them).
CREATE TABLE credential_profiles (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid,
    name text NOT NULL DEFAULT 'profile',
    encrypted_credentials bytea,
    encrypted_credentials_transit text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    hostname text NOT NULL DEFAULT 'router',
    ip_address text,
    ssh_port integer,
    routeros_version text,
    routeros_major_version integer,
    device_type text,
    status text NOT NULL DEFAULT 'unknown',
    encrypted_credentials bytea,
    encrypted_credentials_transit text,
    credential_profile_id uuid REFERENCES credential_profiles (id),
    ssh_host_key_fingerprint text,
    ssh_host_key_first_seen timestamptz,
    ssh_host_key_last_verified timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
