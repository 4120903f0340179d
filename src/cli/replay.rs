//! `confkeep replay`: fold the whole log through the machine; --verify compares decisions.
//!
//! Reads every event of every device in log order, runs each through the
//! pure `step` (one machine per device) and prints how many devices are in
//! each phase and how fast it went. Nothing is executed: replay has no
//! effects. With `--verify` it also compares what today's rules decide with
//! what was recorded at the time (each envelope's `after`), checks that every
//! device's sequence has no gap, folds the log a second time to check the
//! fold is deterministic, and exits non-zero on any difference, listing each
//! by device and sequence.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;

use crate::domain::{After, DeviceId};
use crate::store::fold::{Difference, DifferenceKind, Fold};
use crate::store::{self, GlobalSeq, StoreConfig, StoreError};

/// Fold the whole log through the machine; --verify compares decisions.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Compare every recorded decision with today's rules, fold twice, and
    /// exit 1 on any difference.
    #[arg(long)]
    pub verify: bool,
    /// Report events that do not decode and go on, instead of stopping.
    #[arg(long)]
    pub skip_undecodable: bool,
    /// JetStream server; without it, the embedded log under --data-dir.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// The daemon's data directory (embedded log `<dir>/events.redb`).
    #[arg(long, env = "CONFKEEP_DATA_DIR", default_value = "confkeep-data")]
    pub data_dir: PathBuf,
    /// JetStream stream name.
    #[arg(long, default_value = store::jetstream::DEFAULT_STREAM)]
    pub stream: String,
    /// JetStream subject prefix (`<prefix>.<tenant>.<device>`).
    #[arg(long, default_value = store::jetstream::DEFAULT_SUBJECT_PREFIX)]
    pub subject_prefix: String,
    /// The archive of compacted events (default `<data-dir>/archive` when
    /// it exists): folded first, device by device, so verification starts
    /// from the oldest event kept anywhere.
    #[arg(long)]
    pub archive: Option<PathBuf>,
    /// Seconds to wait for the NATS server at start-up.
    #[arg(long, default_value_t = 5)]
    pub connect_timeout_secs: u64,
}

impl Args {
    fn archive(&self) -> Option<crate::store::archive::Archive> {
        let dir = self
            .archive
            .clone()
            .unwrap_or_else(|| self.data_dir.join("archive"));
        (self.archive.is_some() || dir.is_dir()).then(|| crate::store::archive::Archive::new(dir))
    }

    fn store_config(&self) -> StoreConfig {
        let mut config = StoreConfig::from_options(self.nats_url.as_deref(), &self.data_dir);
        if let StoreConfig::JetStream(js) = &mut config {
            js.stream = self.stream.clone();
            js.subject_prefix = self.subject_prefix.clone();
            js.connect_timeout = Duration::from_secs(self.connect_timeout_secs);
            js.read_only = true;
        }
        config
    }
}

/// What one pass over the log found.
struct Pass {
    fold: Fold,
    /// What each folded event led to, in order (kept only to compare passes):
    /// device, sequence, log position, decision.
    afters: Vec<(DeviceId, u64, GlobalSeq, After)>,
    differences: Vec<Difference>,
    skipped: u64,
    /// Events folded from the archive (before the live log), and the
    /// oldest one's time.
    archived: u64,
    oldest: Option<crate::domain::Timestamp>,
}

async fn fold_once(
    log: &dyn store::EventLog,
    args: &Args,
    limit: Option<u64>,
    keep_afters: bool,
) -> anyhow::Result<Pass> {
    let mut pass = Pass {
        fold: Fold::new(),
        afters: Vec::new(),
        differences: Vec::new(),
        skipped: 0,
        archived: 0,
        oldest: None,
    };
    if let Some(archive) = args.archive() {
        let mut problems = Vec::new();
        archive.for_each(
            |env| {
                let after = pass.fold.apply(0, env, args.verify, &mut pass.differences);
                pass.archived += 1;
                pass.oldest = Some(pass.oldest.map_or(env.at, |o| o.min(env.at)));
                if keep_afters {
                    pass.afters.push((env.device.clone(), env.seq, 0, after));
                }
            },
            |p| problems.push(p.to_string()),
        );
        for p in &problems {
            eprintln!("archive: {p}");
        }
        if !problems.is_empty() && !args.skip_undecodable {
            anyhow::bail!(
                "replay stopped: {} archived records do not read (--skip-undecodable reports and skips them)",
                problems.len()
            );
        }
        pass.skipped += problems.len() as u64;
    }
    let mut events = log.replay(0);
    while let Some(item) = events.next().await {
        match item {
            Ok((global, env)) => {
                let after = pass
                    .fold
                    .apply(global, &env, args.verify, &mut pass.differences);
                if keep_afters {
                    pass.afters.push((env.device, env.seq, global, after));
                }
            }
            Err(e @ StoreError::Decode { .. }) if args.skip_undecodable => {
                eprintln!("skipped: {e}");
                pass.skipped += 1;
            }
            Err(e @ StoreError::Decode { .. }) => {
                return Err(e).context(
                    "replay stopped at an event it cannot read (--skip-undecodable reports and skips such events)",
                );
            }
            Err(e) => return Err(e).context("replay failed"),
        }
        if limit.is_some_and(|l| pass.fold.events + pass.skipped >= l) {
            break;
        }
    }
    Ok(pass)
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    let config = args.store_config();
    let log = store::open(&config)
        .await
        .with_context(|| format!("cannot open the event log ({})", config.describe()))?;

    #[allow(clippy::disallowed_methods)] // the operator asked how fast replay is
    let started = std::time::Instant::now();
    let first = fold_once(&*log, &args, None, args.verify).await?;
    let elapsed = started.elapsed();

    let per_s = first.fold.events as f64 / elapsed.as_secs_f64().max(1e-9);
    println!(
        "replayed {} events of {} devices from {} in {:.3} s ({:.0} events/s)",
        first.fold.events,
        first.fold.states.len(),
        config.describe(),
        elapsed.as_secs_f64(),
        per_s
    );
    if let (Some(archive), true) = (args.archive(), first.archived > 0) {
        println!(
            "from the oldest retained point: {} archived events in {} (oldest {}), then the live log",
            first.archived,
            archive.dir().display(),
            first
                .oldest
                .map_or_else(String::new, crate::effects::snapshot::rfc3339)
        );
    }
    if first.skipped > 0 {
        println!("skipped {} undecodable events", first.skipped);
    }
    println!("{:<18} {:>8}", "phase", "devices");
    for (phase, count) in first.fold.phases() {
        println!("{:<18} {:>8}", phase.name(), count);
    }

    if !args.verify {
        return Ok(0);
    }
    let mut differences = first.differences.clone();
    // Second pass over exactly the same events: a pure fold lands on the
    // same decisions and the same states.
    let second = fold_once(&*log, &args, Some(first.fold.events + first.skipped), true).await?;
    for ((device, seq, global, a), (_, _, _, b)) in first.afters.iter().zip(&second.afters) {
        if a != b {
            differences.push(Difference {
                device: device.clone(),
                seq: *seq,
                global: *global,
                kind: DifferenceKind::NotDeterministic {
                    first: a.clone(),
                    second: b.clone(),
                },
            });
        }
    }
    if first.afters.len() != second.afters.len() {
        anyhow::bail!(
            "the second fold read {} events, the first {}",
            second.afters.len(),
            first.afters.len()
        );
    }
    for (device, state) in &first.fold.states {
        if second.fold.states.get(device) != Some(state) {
            differences.push(Difference {
                device: device.clone(),
                seq: state.seq,
                global: 0,
                kind: DifferenceKind::NotDeterministic {
                    first: state.after(),
                    second: second
                        .fold
                        .states
                        .get(device)
                        .map(|s| s.after())
                        .unwrap_or_else(|| state.after()),
                },
            });
        }
    }
    for d in &differences {
        println!("difference: {d}");
    }
    if differences.is_empty() {
        println!(
            "verify: {} events, every recorded decision matches today's rules; two folds agree",
            first.fold.events
        );
        Ok(0)
    } else {
        println!("verify: {} differences", differences.len());
        Ok(1)
    }
}
