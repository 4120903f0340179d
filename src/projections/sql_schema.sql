-- confkeep's SQL read model (created when missing; see projections/sql.rs).
CREATE TABLE IF NOT EXISTS backup_device_status (
    device_id      text PRIMARY KEY,
    tenant_id      text NOT NULL,
    phase          text NOT NULL,
    phase_since    timestamptz NOT NULL,
    host           text NOT NULL,
    port           integer NOT NULL,
    tags           text[] NOT NULL DEFAULT '{}',
    interval_secs  bigint NOT NULL,
    last_attempt   timestamptz,
    last_success   timestamptz,
    last_hash      text,
    failures       integer NOT NULL,
    next_due       timestamptz,
    last_error_kind text,
    last_error     text,
    trusted_host_key text,
    events         bigint NOT NULL,
    seq            bigint NOT NULL,
    global_seq     bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS backup_device_status_tenant ON backup_device_status (tenant_id);
CREATE INDEX IF NOT EXISTS backup_device_status_phase ON backup_device_status (phase);

CREATE TABLE IF NOT EXISTS backup_history (
    global_seq   bigint PRIMARY KEY,
    device_id    text NOT NULL,
    tenant_id    text NOT NULL,
    seq          bigint NOT NULL,
    recorded_at  timestamptz NOT NULL,
    node         text NOT NULL,
    event        text NOT NULL,
    phase_after  text,
    correlation  text,
    detail       jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS backup_history_device ON backup_history (device_id, seq);

CREATE TABLE IF NOT EXISTS backup_read_model_checkpoint (
    name        text PRIMARY KEY,
    global_seq  bigint NOT NULL
);
