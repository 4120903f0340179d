INSERT INTO backup_device_status AS s
    (device_id, tenant_id, phase, phase_since, host, port, tags, interval_secs,
     last_attempt, last_success, last_hash, failures, next_due, last_error_kind,
     last_error, trusted_host_key, events, seq, global_seq)
SELECT d, t, p, to_timestamp(si / 1000.0), h, po, string_to_array(tg, E'\x1f'), iv,
       to_timestamp(la / 1000.0), to_timestamp(ls / 1000.0), lh, f, to_timestamp(nd / 1000.0),
       ek, em, hk, ev, sq, $19
  FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::integer[],
              $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::integer[],
              $13::bigint[], $14::text[], $15::text[], $16::text[], $17::bigint[], $18::bigint[])
    AS u(d, t, p, si, h, po, tg, iv, la, ls, lh, f, nd, ek, em, hk, ev, sq)
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
