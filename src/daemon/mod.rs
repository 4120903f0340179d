//! The daemon, assembled: log, inventory, gate, snapshots, collector,
//! runner, HTTP API. `confkeep run` and `confkeep demo` both start it.
//!
//! Wiring only, like `main.rs`: every decision lives in `domain`, every
//! effect in `effects`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::api::auth::ApiToken;
use crate::api::serve::{self, ApiListener, Exposure, HttpLimits, HttpSettings};
use crate::api::{ApiState, router};
use crate::effects::attempt::{SshAttempts, SshSettings};
use crate::effects::config::DaemonConfig;
use crate::effects::gate::Gate;
use crate::effects::inventory::Inventory;
use crate::effects::inventory::postgres::PgInventory;
use crate::effects::runner::{
    Clock, Command, RunReport, Runner, RunnerConfig, RunnerHandle, SystemClock,
};
use crate::effects::snapshot::{JetStreamSnapshots, SnapshotFiles, SnapshotSink};
use crate::effects::snapshot_objects::ObjectBucket;
use crate::effects::snapshot_read::{JetStreamReader, SnapshotReader};
use crate::projections::projector::Projector;
use crate::projections::status::StatusBoard;
use crate::redact::redact_url;
use crate::store::{EventLog, StoreConfig};

pub mod checkpoint;
pub mod compaction;
mod git;
mod inventory;
pub mod notify;
pub mod retention;
pub use inventory::desired;

/// A started daemon: its handles, and the task that runs it.
pub struct Daemon {
    pub runner: RunnerHandle,
    pub status: Arc<Mutex<StatusBoard>>,
    pub log: Arc<dyn EventLog>,
    /// Where the HTTP API listens, if it does.
    pub api_addr: Option<std::net::SocketAddr>,
    /// Where Prometheus scrapes (`metrics_listen`), if anywhere.
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub data_dir: PathBuf,
    pub snapshots: Option<SnapshotFiles>,
    pub replayed_events: u64,
    /// The log position the status board has folded (replayed and live):
    /// await `changed()` to wait for the log to move instead of sleeping.
    pub recorded: tokio::sync::watch::Receiver<u64>,
    /// Other writers' events the runner has folded from the log's tail.
    pub followed: tokio::sync::watch::Receiver<u64>,
    /// Inventory edits applied and refused since start.
    pub inventory_reloads: tokio::sync::watch::Receiver<InventoryReloads>,
    /// The daemon's own health (log and snapshot store), as it changes.
    pub health: tokio::sync::watch::Receiver<crate::domain::health::Health>,
    /// Notification tries since start (all receivers): await `changed()`
    /// to wait for a delivery or a failure.
    pub notified: tokio::sync::watch::Receiver<notify::Tries>,
    /// The log position the git repository of configs holds (`[git]`).
    pub git_written: tokio::sync::watch::Receiver<u64>,
    /// The checkpoint start-up took up, if one was.
    pub restored: Option<checkpoint::Restored>,
    /// The position of the newest checkpoint written (`[history]`).
    pub checkpointed: tokio::sync::watch::Receiver<u64>,
    checkpointer: Option<checkpoint::Checkpointer>,
    task: tokio::task::JoinHandle<RunReport>,
    projector: tokio::task::JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Daemon {
    /// Stop starting attempts, let running ones finish within the grace,
    /// and return what the run did.
    pub async fn shutdown(self) -> anyhow::Result<RunReport> {
        let _ = self.stop.send(true);
        self.join().await
    }

    /// Wait until the runner and the projector end (after a stop request):
    /// then the log is no longer held by this daemon.
    pub async fn join(self) -> anyhow::Result<RunReport> {
        let report = self.task.await.context("the runner task failed")?;
        self.projector.await.context("the projector task failed")?;
        // What was folded last: the next start folds nothing of it again.
        if let Some(c) = &self.checkpointer {
            c.write().await;
        }
        Ok(report)
    }

    /// A stop handle (e.g. for a signal handler).
    pub fn stopper(&self) -> tokio::sync::watch::Sender<bool> {
        self.stop.clone()
    }
}

/// The Prometheus recorder: one per process.
fn prometheus() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    static HANDLE: OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
        OnceLock::new();
    HANDLE
        .get_or_init(|| {
            use crate::projections::metrics::{DURATION, DURATION_BUCKETS};
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(DURATION.to_owned()),
                    &DURATION_BUCKETS,
                )
                .ok()?
                .install_recorder()
                .ok()
        })
        .clone()
}

/// Say at start-up which part is which (credentials redacted).
pub fn describe_parts(config: &DaemonConfig) {
    let inventory = match &config.postgres {
        Some(p) => format!(
            "PostgreSQL {} (re-read every {} s)",
            redact_url(&p.url),
            p.refresh_secs
        ),
        None => format!("file {}", config.inventory.display()),
    };
    let log = match &config.nats {
        Some(n) => format!("JetStream on {}", redact_url(&n.url)),
        None => format!("embedded under {}", config.data_dir.display()),
    };
    let gate = match &config.redis {
        Some(r) => format!("Redis {}", redact_url(&r.url)),
        None => "none (every device online, no lock)".to_owned(),
    };
    let vault = crate::effects::credentials::Vault::from_env(|n| std::env::var(n).ok())
        .map(|v| v.describe())
        .unwrap_or_else(|e| e.to_string());
    tracing::info!(%inventory, %log, %gate, credentials = %vault, "parts");
}

/// Check that the data directory exists and can be written.
/// It holds router configs with their secrets: 0700, narrowed (and said)
/// when it was open to others.
fn check_data_dir(dir: &Path) -> anyhow::Result<()> {
    crate::private_fs::create_dir(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    if let Some(had) = crate::private_fs::narrow(dir, 0o700)
        .with_context(|| format!("cannot restrict the data directory {}", dir.display()))?
    {
        tracing::warn!(data_dir = %dir.display(), mode = format!("{had:o}"), "the data directory was open to others: narrowed to 700");
    }
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"ok")
        .with_context(|| format!("the data directory {} is not writable", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Start the daemon from its configuration. Refuses to start (with the
/// file, line and field) on a bad inventory; the log must be reachable.
pub async fn start(config: DaemonConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Daemon> {
    let vault = crate::effects::credentials::Vault::from_env(|n| std::env::var(n).ok())
        .context("cannot open sealed credentials")?;
    start_with_vault(config, clock, vault).await
}

/// [`start`], with what opens sealed logins given rather than read from
/// the environment (tests that run side by side, each with its own key).
pub async fn start_with_vault(
    config: DaemonConfig,
    clock: Arc<dyn Clock>,
    vault: crate::effects::credentials::Vault,
) -> anyhow::Result<Daemon> {
    config
        .policy
        .validate()
        .context("the configured policy cannot work")?;
    let pg = match &config.postgres {
        Some(p) => Some(PgInventory::new(&p.url)?),
        None => None,
    };
    // Only a source that was read is reconciled against.
    let (inventory, first_read) = match &pg {
        Some(pg) => match inventory::first_pg_read(pg).await {
            Some(inv) => (inv, true),
            None => (Inventory::default(), false),
        },
        None => (Inventory::load(&config.inventory)?, true),
    };
    // Bound first: a listener that may not serve stops the start before
    // anything is opened.
    let api_listener = match &config.http_listen {
        Some(listen) => Some(bind_api(&config, listen).await?),
        None => None,
    };
    let metrics_listener = match &config.metrics_listen {
        Some(listen) => Some(serve::bind_metrics(listen, HttpLimits::default()).await?),
        None => None,
    };
    for w in inventory.permission_warnings(&config.inventory) {
        tracing::warn!("{w}");
    }
    let store_config = match &config.nats {
        Some(n) => {
            let mut js = crate::store::jetstream::JetStreamConfig::new(&n.url);
            js.replicas = n.replicas;
            js.stream = n.stream.clone();
            js.subject_prefix = n.subject_prefix.clone();
            js.max_age = (n.max_age_secs > 0).then(|| Duration::from_secs(n.max_age_secs));
            StoreConfig::JetStream(js)
        }
        None => {
            check_data_dir(&config.data_dir)?;
            StoreConfig::Embedded {
                data_dir: config.data_dir.clone(),
            }
        }
    };
    let log = crate::store::open(&store_config)
        .await
        .with_context(|| format!("cannot open the event log ({})", store_config.describe()))?;

    let mut nats_client = None;
    let (sink, snapshots, reader) = match &config.nats {
        Some(n) => {
            let client = async_nats::connect(&n.url)
                .await
                .with_context(|| format!("cannot connect to NATS at {}", redact_url(&n.url)))?;
            nats_client = Some(client.clone());
            let max_payload = client.server_info().max_payload;
            let context = async_nats::jetstream::new(client);
            let objects = ObjectBucket::new(context.clone(), &n.snapshot_objects, n.replicas);
            let reader = SnapshotReader::JetStream(Box::new(JetStreamReader {
                js: context.clone(),
                template: n.snapshot_subject.clone(),
                objects: ObjectBucket::new(context.clone(), &n.snapshot_objects, n.replicas),
            }));
            let js = JetStreamSnapshots::new(context, &n.snapshot_subject, max_payload, objects);
            let stream = js.ensure_stream(&n.snapshot_stream).await?;
            tracing::info!(subject = %n.snapshot_subject, %stream, max_payload, objects = %n.snapshot_objects, "snapshots published on JetStream (a config over max_payload goes to the object store bucket, the event names it)");
            (SnapshotSink::JetStream(Box::new(js)), None, reader)
        }
        None => {
            let files = SnapshotFiles::new(&config.data_dir);
            let reader = SnapshotReader::Files(files.clone());
            (SnapshotSink::Files(files.clone()), Some(files), reader)
        }
    };
    let reader = Arc::new(reader);

    let gate = match &config.redis {
        Some(r) => Gate::connect(&r.url, &r.key_prefix)
            .with_context(|| format!("[redis] url {} cannot be used", redact_url(&r.url)))?,
        None => Gate::disabled(),
    };
    let inventory = Arc::new(RwLock::new(inventory));
    let mut attempts = SshAttempts::new(
        inventory.clone(),
        gate,
        sink,
        SshSettings {
            output_cap: config.ssh.output_cap_bytes,
            legacy_algorithms: config.ssh.legacy_algorithms,
        },
        clock.clone(),
    )
    .with_vault(vault);
    if let Some(pg) = &pg {
        attempts = attempts.with_host_key_store(pg.clone());
    }
    let executor = Arc::new(attempts);
    let node = config.node_id();
    let mut runner = Runner::new(
        log.clone(),
        executor,
        clock.clone(),
        RunnerConfig {
            node: node.clone(),
            shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
            ..RunnerConfig::default()
        },
    );
    let status = Arc::new(Mutex::new(StatusBoard::new()));
    let restored = checkpoint::take_up(log.as_ref(), &status, &mut runner).await;
    let archive =
        crate::store::archive::Archive::new(config.data_dir.join(&config.history.archive_dir));
    match &restored {
        Some(r) => {
            tracing::info!(checkpoint = %r.name, position = r.position, devices = r.devices, skipped = r.skipped, "checkpoint taken up; folding the log after it")
        }
        None => {
            let n = compaction::seed_from_archive(&archive, &status, &mut runner);
            if n > 0 {
                tracing::info!(events = n, archive = %archive.dir().display(), "no usable checkpoint: the archive folded first, then the live log");
            }
        }
    }
    let projector = Projector::new(log.clone(), status.clone());
    let recorded = projector.folded();
    let followed = runner.followed();
    let prom = prometheus();
    // One replay each, side by side: the runner's machines and the board.
    let (replayed, projected) = tokio::join!(runner.replay(), projector.catch_up());
    let replayed_events = replayed?;
    let projected = projected.context("the status projection cannot read the event log")?;
    tracing::info!(events = replayed_events, projected, log = %store_config.describe(), "log replayed");
    say_stored_apart(&status);
    let health = runner.health();
    spawn_health(health.clone(), status.clone());
    let handle = runner.handle();
    let first = {
        let inv = inventory
            .read()
            .map_err(|_| anyhow::anyhow!("inventory lock poisoned"))?;
        desired(&inv, &config.policies())
    };
    if first_read {
        handle.send(Command::Reconcile { devices: first });
    }

    let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        while !*stop_rx.borrow() {
            if stop_rx.changed().await.is_err() {
                break;
            }
        }
    };
    // The projector stops after the runner, once it has folded what the
    // runner recorded in its shutdown grace.
    let (runner_done, runner_ended) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let report = runner.run(shutdown).await;
        let _ = runner_done.send(());
        report
    });
    let projector = tokio::spawn(projector.follow(async move {
        let _ = runner_ended.await;
    }));

    let (reloads_tx, inventory_reloads) = tokio::sync::watch::channel(InventoryReloads::default());
    let feed = inventory::Feed {
        policies: config.policies(),
        inventory,
        runner: handle.clone(),
        reloads: reloads_tx,
    };
    match (&pg, &config.postgres) {
        (Some(pg), Some(p)) => inventory::spawn_pg_refresher(
            pg.clone(),
            Duration::from_secs(p.refresh_secs),
            feed,
            stop.subscribe(),
        ),
        _ => inventory::spawn_file_watcher(
            config.inventory.clone(),
            config.inventory_poll_secs,
            feed,
            stop.subscribe(),
        ),
    }

    if let (Some(client), Some(n)) = (nats_client, &config.nats) {
        let service = crate::api::nats_trigger::TriggerService {
            runner: handle.clone(),
            status: status.clone(),
            clock: clock.clone(),
            wait: trigger_wait(&config),
            node: node.clone(),
            requests: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        };
        let (subject, queue, stop) = (
            n.trigger_subject.clone(),
            n.trigger_queue.clone(),
            stop.subscribe(),
        );
        service
            .start(client, subject.clone(), queue, stop)
            .await
            .with_context(|| format!("cannot serve manual triggers on NATS subject {subject}"))?;
    }

    let scrape = crate::api::scrape::Scrape {
        status: status.clone(),
        clock: clock.clone(),
        prometheus: prom,
    };
    let metrics_addr = match metrics_listener {
        Some(listener) => {
            let addr = listener.local_addr();
            let app = crate::api::scrape::router(scrape.clone(), listener.limits);
            let mut stop_http = stop.subscribe();
            tracing::info!(addr = ?addr, exposure = ?listener.exposure, "Prometheus metrics listening (/metrics, /healthz; no token, nothing that changes state)");
            tokio::spawn(listener.serve(app, async move {
                let _ = stop_http.changed().await;
            }));
            addr
        }
        None => None,
    };

    let mut api_addr = None;
    if let Some(listener) = api_listener {
        api_addr = listener.local_addr();
        let state = ApiState {
            runner: handle.clone(),
            status: status.clone(),
            log: log.clone(),
            clock: clock.clone(),
            trigger_timeout: trigger_wait(&config),
            scrape,
            node: node.clone(),
            requests: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            snapshots: Some(reader.clone()),
            retention: config.retention.map(|r| r.rule()).unwrap_or_default(),
        };
        let app = router(state, listener.access.clone(), listener.limits);
        let mut stop_http = stop.subscribe();
        tracing::info!(addr = ?api_addr, exposure = ?listener.exposure, token = listener.access.token.is_some(), "HTTP API listening");
        tokio::spawn(listener.serve(app, async move {
            let _ = stop_http.changed().await;
        }));
    }

    let (tries, notified) = tokio::sync::watch::channel(notify::Tries::default());
    let notifiers = notify::Shared {
        log: log.clone(),
        reader: Some(reader.clone()),
        board: status.clone(),
        clock: clock.clone(),
        data_dir: config.data_dir.clone(),
        archive: archive.clone(),
        tries,
    };
    notify::start(notifiers, &config.notify, &stop);

    let (git_tx, git_written) = tokio::sync::watch::channel(0);
    if let Some(g) = &config.git {
        let path = config.data_dir.join(&g.path);
        tokio::spawn(git::follow(
            path,
            log.clone(),
            reader.clone(),
            git_tx,
            stop.subscribe(),
        ));
    }

    // Where the SQL read model is: 0 until it first opens, so compaction
    // waits for it (it never removes what the tables lack).
    let (model_tx, model_written) = tokio::sync::watch::channel(0);
    if let Some(rm) = &config.read_model {
        tokio::spawn(read_model(
            rm.url.clone(),
            log.clone(),
            archive.clone(),
            model_tx,
            stop.subscribe(),
        ));
    }

    if let (Some(r), Some(files)) = (config.retention, &snapshots) {
        tokio::spawn(retention::every(
            log.clone(),
            files.clone(),
            r,
            clock.clone(),
            stop.subscribe(),
        ));
    }

    if let Some(days) = config.history.keep_days {
        tokio::spawn(compaction::every(
            log.clone(),
            archive,
            days,
            Duration::from_secs(config.history.compact_every_secs.max(1)),
            clock.clone(),
            followers(
                &status,
                config.git.is_some().then(|| git_written.clone()),
                config.read_model.is_some().then_some(model_written),
            ),
            stop.subscribe(),
        ));
    }
    let checkpointer = checkpoint::Checkpointer::new(
        log.as_ref(),
        status.clone(),
        clock.clone(),
        config.history.clone(),
        restored.as_ref().map_or(0, |r| r.position),
    );
    let checkpointed = match &checkpointer {
        Some(c) => {
            tokio::spawn(c.clone().run(recorded.clone(), stop.subscribe()));
            c.written()
        }
        None => tokio::sync::watch::channel(0).1,
    };

    Ok(Daemon {
        runner: handle,
        status,
        log,
        api_addr,
        metrics_addr,
        data_dir: config.data_dir.clone(),
        snapshots,
        replayed_events,
        recorded,
        followed,
        inventory_reloads,
        health,
        notified,
        git_written,
        restored,
        checkpointed,
        checkpointer,
        task,
        projector,
        stop,
    })
}

/// Where the notification receivers, the git repository and the SQL read
/// model are in the log.
fn followers(
    status: &Arc<Mutex<StatusBoard>>,
    git: Option<tokio::sync::watch::Receiver<u64>>,
    read_model: Option<tokio::sync::watch::Receiver<u64>>,
) -> compaction::Followers {
    let status = status.clone();
    Arc::new(move || {
        let mut out: Vec<(String, u64)> = status
            .lock()
            .map(|b| {
                b.receivers()
                    .map(|r| (format!("receiver {}", r.name), r.checkpoint))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(g) = &git {
            out.push(("the git repository".into(), *g.borrow()));
        }
        if let Some(m) = &read_model {
            out.push(("the SQL read model".into(), *m.borrow()));
        }
        out
    })
}

/// Keep the SQL read model written: open it (the tables, the fold up to
/// its checkpoint), catch up, follow; on a database or log failure say so
/// and start over from the checkpoint after a pause. Never on the
/// runner's path.
async fn read_model(
    url: String,
    log: Arc<dyn EventLog>,
    archive: crate::store::archive::Archive,
    written: tokio::sync::watch::Sender<u64>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use crate::projections::sql::ReadModel;
    let shown = redact_url(&url);
    loop {
        let mut follow_stop = stop.clone();
        let run = async {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .connect(&url)
                .await?;
            let mut model = ReadModel::open_after(pool, log.clone(), Some(&archive)).await?;
            model.report_to(written.clone());
            let caught = model.catch_up(None).await?;
            tracing::info!(database = %shown, events = caught, checkpoint = model.checkpoint(), "SQL read model caught up");
            model
                .follow(async move {
                    let _ = follow_stop.changed().await;
                })
                .await
        };
        let result: Result<u64, crate::projections::sql::ReadModelError> = tokio::select! {
            r = run => r,
            _ = stop.changed() => return,
        };
        match result {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(database = %shown, error = %e, "SQL read model not written; retrying from its checkpoint in 5 s")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// How long an API trigger waits for its attempt before answering "timeout".
fn trigger_wait(config: &DaemonConfig) -> Duration {
    Duration::from_secs(config.policy.attempt_deadline_secs().max(5))
}

/// Bind the API as configured: the token, TLS and limits, and the rule
/// that refuses a tokenless or (unless allowed) plaintext listener off
/// loopback.
async fn bind_api(config: &DaemonConfig, listen: &str) -> anyhow::Result<ApiListener> {
    let token = ApiToken::load(
        std::env::var("CONFKEEP_API_TOKEN").ok(),
        config.api_token_file.as_deref(),
    )?;
    let settings = HttpSettings {
        listen: listen.to_owned(),
        token,
        public_reads: config.api_public_reads,
        tls: serve::tls_files(config.http_tls_cert.clone(), config.http_tls_key.clone())?,
        allow_plaintext: config.http_allow_plaintext,
        limits: HttpLimits {
            max_connections: config.http_max_connections.max(1),
            request_timeout: trigger_wait(config) + Duration::from_secs(10),
            ..HttpLimits::default()
        },
    };
    let listener = serve::bind(&settings).await?;
    if listener.exposure == Exposure::NetworkPlaintext {
        tracing::warn!(
            addr = ?listener.local_addr(),
            "the API serves plain HTTP off loopback (http_allow_plaintext = true): the token crosses the network in clear unless a TLS proxy is in front"
        );
    }
    Ok(listener)
}

/// Say at start-up which devices' configs exceed the server's
/// `max_payload` (their newest snapshot is in the object store).
fn say_stored_apart(status: &Mutex<StatusBoard>) {
    let Ok(board) = status.lock() else { return };
    let mut count = 0;
    let mut largest: Option<(&crate::domain::DeviceId, &crate::domain::StoredApart)> = None;
    for (device, apart) in board.stored_apart() {
        count += 1;
        if largest.is_none_or(|(_, l)| apart.over_by() > l.over_by()) {
            largest = Some((device, apart));
        }
    }
    if let Some((device, apart)) = largest {
        tracing::warn!(
            devices = count,
            largest = %device,
            message_bytes = apart.message_bytes,
            over_by = apart.over_by(),
            max_payload = apart.max_payload,
            "configs too large for one snapshot message: their snapshots are in the object store, the events name them"
        );
    }
}

/// Show the runner's health on the status board as it changes.
fn spawn_health(
    mut health: tokio::sync::watch::Receiver<crate::domain::health::Health>,
    status: Arc<Mutex<StatusBoard>>,
) {
    tokio::spawn(async move {
        while health.changed().await.is_ok() {
            let now = health.borrow_and_update().clone();
            if let Ok(mut board) = status.lock() {
                board.set_health(now);
            }
        }
    });
}

/// What became of inventory edits while running.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryReloads {
    /// Edits applied (devices enrolled/retired accordingly).
    pub applied: u64,
    /// Edits refused; the last good inventory stayed in force.
    pub refused: u64,
    /// Why the last refused edit was refused (file, line, field).
    pub last_error: Option<String>,
    /// Times the PostgreSQL inventory became unreadable (each said once in
    /// the log, however many refreshes it then fails).
    pub outages: u64,
}

/// Resolve when SIGTERM or SIGINT arrives.
pub async fn termination_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Start from a config file and run until a termination signal.
pub async fn run_until_signal(config: DaemonConfig) -> anyhow::Result<RunReport> {
    let daemon = start(config, Arc::new(SystemClock)).await?;
    let stopper = daemon.stopper();
    tokio::spawn(async move {
        termination_signal().await;
        tracing::info!("termination signal received");
        let _ = stopper.send(true);
    });
    let report = daemon.join().await?;
    if report.attempts_left_running > 0 {
        tracing::warn!(
            left = report.attempts_left_running,
            "attempts still running at the end of the grace: their deadline settles them at the next start"
        );
    }
    Ok(report)
}

/// Refuse an obviously wrong configuration before anything starts.
pub fn preflight(config: &DaemonConfig) -> anyhow::Result<()> {
    if !config.inventory.exists() {
        bail!(
            "inventory file {} does not exist (set `inventory` in the config)",
            config.inventory.display()
        );
    }
    Ok(())
}
