//! The start-up benchmark's tables and its JSON line.

use super::*;

pub(super) fn row(r: &Run) -> String {
    format!(
        "| {} | {} | {} | {:.1} | {:.0} | {:.3} | {:.2} | {:.0} | {:.2} | {:.0} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
        r.backend,
        r.events,
        r.devices,
        r.fill_s,
        r.events as f64 / r.fill_s,
        r.open_s,
        r.read_s,
        r.read_rate(),
        r.replay_s,
        r.replay_rate(),
        r.ratio(),
        r.bytes_per_event(),
        r.disk_bytes_per_event(),
        r.bytes_per_device_year(),
        mb(r.rss_after),
        r.rss_after as f64 / r.devices as f64,
        r.rss_growth as f64 / r.devices as f64,
    )
}

pub(super) const CHECKPOINT_HEADER: &str = "| backend | events | devices | checkpoint write s | encode (board locked) s \
     | checkpoint MB | checkpoint B/device | tail events | tail append s | child open s \
     | newest s (load, verify, decode) | fleet restore s | tail: board done s | tail: fleet done s \
     | ready from checkpoint s | full replay s | checkpoint ratio | child RSS before MB \
     | RSS ready MB | RSS ready growth/device B | child peak RSS MB |";

pub(super) fn checkpoint_row(
    backend: &str,
    events: u64,
    devices: u64,
    replay_s: f64,
    cp: &FromCheckpoint,
) -> String {
    let r = &cp.ready;
    format!(
        "| {backend} | {events} | {devices} | {:.2} | {:.2} | {:.1} | {:.0} | {} | {:.1} | {:.3} | {:.2} | {:.2} | {:.3} | {:.3} | {:.2} | {:.2} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} |",
        cp.write_s,
        cp.encode_s,
        mb(cp.bytes),
        cp.bytes as f64 / devices as f64,
        cp.tail_events,
        cp.tail_append_s,
        r.open_s,
        r.newest_s,
        r.restore_s,
        r.board_tail_s,
        r.fleet_tail_s,
        r.ready_s,
        replay_s,
        replay_s / r.ready_s,
        mb(r.rss_before),
        mb(r.rss_ready),
        r.rss_ready.saturating_sub(r.rss_before) as f64 / devices as f64,
        mb(r.rss_peak),
    )
}

pub(super) fn print_checkpoint_table(rows: impl Iterator<Item = String>) {
    println!();
    println!("{CHECKPOINT_HEADER}");
    println!(
        "|{}",
        "---|".repeat(CHECKPOINT_HEADER.matches(" |").count())
    );
    for r in rows {
        println!("{r}");
    }
}

pub(super) type Json = serde_json::Map<String, serde_json::Value>;

/// The JSON keys of one backend's runs (`prefix` "" for embedded, as the
/// headline figures, "jetstream_" for JetStream).
pub(super) fn keys(out: &mut Json, runs: &[&Run], prefix: &str) {
    let Some(largest) = runs.iter().max_by_key(|r| r.events) else {
        return;
    };
    for r in runs {
        let size = label(r.events);
        out.insert(format!("{prefix}replay_{size}_s"), r.replay_s.into());
        out.insert(format!("{prefix}read_{size}_s"), r.read_s.into());
        out.insert(format!("{prefix}fill_{size}_s"), r.fill_s.into());
        out.insert(
            format!("{prefix}checkpoint_ready_{size}_s"),
            r.cp.ready.ready_s.into(),
        );
        out.insert(
            format!("{prefix}checkpoint_write_{size}_s"),
            r.cp.write_s.into(),
        );
        out.insert(
            format!("{prefix}checkpoint_ratio_{size}"),
            r.checkpoint_ratio().into(),
        );
    }
    out.insert(
        format!("{prefix}replay_events_per_s"),
        largest.replay_rate().into(),
    );
    out.insert(
        format!("{prefix}read_events_per_s"),
        largest.read_rate().into(),
    );
    out.insert(format!("{prefix}replay_ratio"), largest.ratio().into());
    let store = if prefix.is_empty() { "redb_" } else { prefix };
    out.insert(
        format!("{store}bytes_per_event"),
        largest.bytes_per_event().into(),
    );
    out.insert(
        format!("{store}disk_bytes_per_event"),
        largest.disk_bytes_per_event().into(),
    );
    out.insert(
        format!("{store}bytes_per_device_year"),
        largest.bytes_per_device_year().into(),
    );
    out.insert(
        format!("{prefix}rss_bytes_per_device"),
        (largest.rss_after as f64 / largest.devices as f64).into(),
    );
    out.insert(
        format!("{prefix}rss_growth_bytes_per_device"),
        (largest.rss_growth as f64 / largest.devices as f64).into(),
    );
    let cp = &largest.cp;
    out.insert(
        format!("{prefix}checkpoint_ratio"),
        largest.checkpoint_ratio().into(),
    );
    out.insert(format!("{prefix}checkpoint_bytes"), cp.bytes.into());
    out.insert(
        format!("{prefix}checkpoint_bytes_per_device"),
        (cp.bytes as f64 / largest.devices as f64).into(),
    );
    out.insert(format!("{prefix}checkpoint_encode_s"), cp.encode_s.into());
    out.insert(
        format!("{prefix}checkpoint_tail_events"),
        cp.tail_events.into(),
    );
    out.insert(
        format!("{prefix}checkpoint_newest_s"),
        cp.ready.newest_s.into(),
    );
    out.insert(
        format!("{prefix}checkpoint_rss_bytes"),
        cp.ready.rss_ready.into(),
    );
    out.insert(
        format!("{prefix}checkpoint_peak_rss_bytes"),
        cp.ready.rss_peak.into(),
    );
}

pub(super) fn million_keys(out: &mut Json, m: &Million) {
    let prefix = if m.backend == "embedded" {
        ""
    } else {
        "jetstream_"
    };
    let r = &m.cp.ready;
    let mut put = |k: &str, v: serde_json::Value| {
        out.insert(format!("{prefix}million_{k}"), v);
    };
    put("devices", m.devices.into());
    put("events", m.events.into());
    put("fill_s", m.fill_s.into());
    put("replay_s", m.replay_s.into());
    put("write_s", m.cp.write_s.into());
    put("encode_s", m.cp.encode_s.into());
    put("checkpoint_bytes", m.cp.bytes.into());
    put("tail_events", m.cp.tail_events.into());
    put("newest_s", r.newest_s.into());
    put("ready_s", r.ready_s.into());
    put("rss_bytes", r.rss_ready.into());
    put("peak_rss_bytes", r.rss_peak.into());
    put("ratio", m.ratio().into());
    put("within_targets", m.within_targets().into());
}

/// "1m 0.52 s (full 2.3 s, ×4.4) → 5m …": the ready-from-checkpoint curve.
pub(super) fn curve(runs: &[&Run]) -> String {
    runs.iter()
        .map(|r| {
            format!(
                "{} {:.2} s (full replay {:.2} s, ×{:.1})",
                label(r.events),
                r.cp.ready.ready_s,
                r.replay_s,
                r.checkpoint_ratio()
            )
        })
        .collect::<Vec<_>>()
        .join(" → ")
}
