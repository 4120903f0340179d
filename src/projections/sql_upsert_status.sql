INSERT INTO backup_device_status AS s
    (device_id, tenant_id, phase, phase_since, host, port, tags, interval_secs,
     last_attempt, last_success, last_hash, failures, next_due, last_error_kind,
     last_error, trusted_host_key, events, seq, global_seq)
SELECT r->>'device', r->>'tenant', r->>'phase',
       to_timestamp((r->>'since')::bigint / 1000.0), r->>'host', (r->>'port')::integer,
       COALESCE(ARRAY(SELECT jsonb_array_elements_text(r->'tags')), '{}'),
       (r->>'interval_secs')::bigint,
       to_timestamp((r->>'last_attempt')::bigint / 1000.0),
       to_timestamp((r->>'last_success')::bigint / 1000.0),
       r->>'last_hash', (r->>'failures')::integer,
       to_timestamp((r->>'next_due')::bigint / 1000.0),
       r->'last_error'->>'kind', r->'last_error'->>'message',
       r->>'trusted_host_key', (r->>'events')::bigint, (r->>'seq')::bigint, $2
  FROM UNNEST($1::jsonb[]) AS u(r)
ON CONFLICT (device_id) DO UPDATE SET
    tenant_id = EXCLUDED.tenant_id, phase = EXCLUDED.phase, phase_since = EXCLUDED.phase_since,
    host = EXCLUDED.host, port = EXCLUDED.port, tags = EXCLUDED.tags,
    interval_secs = EXCLUDED.interval_secs, last_attempt = EXCLUDED.last_attempt,
    last_success = EXCLUDED.last_success, last_hash = EXCLUDED.last_hash,
    failures = EXCLUDED.failures, next_due = EXCLUDED.next_due,
    last_error_kind = EXCLUDED.last_error_kind, last_error = EXCLUDED.last_error,
    trusted_host_key = EXCLUDED.trusted_host_key, events = EXCLUDED.events,
    seq = EXCLUDED.seq, global_seq = EXCLUDED.global_seq
WHERE s.global_seq <= EXCLUDED.global_seq
