//! Where `status`, `history` and `diff` get their answers: a running
//! daemon's API, or — with `--data-dir` or `--nats-url` — the log and the
//! snapshots themselves, for an auditor with a copy of the log and no
//! daemon.
//!
//! Both ways end in the same types ([`StatusResponse`],
//! [`HistoryPageResponse`], [`ConfigDiff`]) built by the same code (the
//! board's query, [`crate::api::reads`]), so the output is the same.
//! An embedded log is one file a running daemon holds open: from the log,
//! stop the daemon or read a copy; from a daemon, use `--api`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;

use crate::api::StatusResponse;
use crate::api::reads::{self, HistoryPageResponse, ReadFailure};
use crate::api::requests::HistoryPage;
use crate::cli::http::{ApiArgs, ApiClient, error_text};
use crate::daemon::retention::{GcReport, collect_garbage};
use crate::domain::{DeviceId, RetentionRule};
use crate::effects::runner::{Clock, SystemClock};
use crate::effects::snapshot::SnapshotFiles;
use crate::effects::snapshot_objects::ObjectBucket;
use crate::effects::snapshot_read::{JetStreamReader, SnapshotReader};
use crate::projections::projector::Projector;
use crate::projections::snapshots::ConfigDiff;
use crate::projections::status::{DeviceFilter, DeviceStatus, StatusBoard};
use crate::store::{self, EventLog, StoreConfig};

/// A running daemon (`--api`, the default) or the log itself.
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Read the embedded log and snapshot files of this data directory
    /// instead of asking a daemon (the daemon must not be running on it).
    #[arg(long, conflicts_with = "nats_url")]
    pub data_dir: Option<PathBuf>,
    /// Read the JetStream log and snapshots on this server instead of
    /// asking a daemon.
    #[arg(long)]
    pub nats_url: Option<String>,
    /// JetStream stream of the event log.
    #[arg(long, default_value = store::jetstream::DEFAULT_STREAM)]
    pub stream: String,
    /// JetStream subject prefix of the event log.
    #[arg(long, default_value = store::jetstream::DEFAULT_SUBJECT_PREFIX)]
    pub subject_prefix: String,
    /// Subject of the snapshot events on JetStream.
    #[arg(long, default_value = "config.snapshot.create.{device_id}")]
    pub snapshot_subject: String,
    /// Object store bucket of configs too large for one message.
    #[arg(long, default_value = "CONFIG_SNAPSHOT_OBJECTS")]
    pub snapshot_objects: String,
}

/// What a read can fail with: "not found" gets its own exit code (3).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<ReadFailure> for Failure {
    fn from(e: ReadFailure) -> Self {
        match e {
            ReadFailure::NotFound(m) => Failure::NotFound(m),
            e @ ReadFailure::Snapshot(crate::effects::snapshot_read::ReadError::Missing {
                ..
            }) => Failure::NotFound(e.to_string()),
            e => Failure::Other(e.into()),
        }
    }
}

impl Failure {
    /// Say it and give the exit code.
    pub fn report(self, command: &str) -> i32 {
        eprintln!("confkeep {command}: {self:#}");
        match self {
            Failure::NotFound(_) => 3,
            Failure::Other(_) => 1,
        }
    }
}

/// An opened source.
pub enum Source {
    Api(ApiClient),
    Log(Box<LogSource>),
}

/// The log and the snapshots, read directly.
pub struct LogSource {
    log: Arc<dyn EventLog>,
    reader: SnapshotReader,
    place: String,
    /// Events compacted out of the live log (`<data-dir>/archive`).
    archive: Option<crate::store::archive::Archive>,
}

impl Source {
    pub async fn open(args: &SourceArgs) -> anyhow::Result<Source> {
        if let Some(dir) = &args.data_dir {
            let file = dir.join(store::embedded::FILE_NAME);
            anyhow::ensure!(file.exists(), "no event log at {}", file.display());
            let config = StoreConfig::Embedded {
                data_dir: dir.clone(),
            };
            let log = store::open(&config).await.with_context(|| {
                format!(
                    "cannot open the event log {} (a daemon running on it holds it open: ask it with --api, or read a copy)",
                    file.display()
                )
            })?;
            let reader = SnapshotReader::Files(SnapshotFiles::new(dir));
            let archive = Some(dir.join("archive"))
                .filter(|a| a.is_dir())
                .map(crate::store::archive::Archive::new);
            return Ok(Source::Log(Box::new(LogSource {
                log,
                reader,
                place: config.describe(),
                archive,
            })));
        }
        if let Some(url) = &args.nats_url {
            return Self::open_nats(args, url).await;
        }
        Ok(Source::Api(ApiClient::from_args(&args.api)?))
    }

    async fn open_nats(args: &SourceArgs, url: &str) -> anyhow::Result<Source> {
        let mut config = store::JetStreamConfig::new(url);
        config.stream = args.stream.clone();
        config.subject_prefix = args.subject_prefix.clone();
        config.read_only = true;
        let config = StoreConfig::JetStream(config);
        let place = config.describe();
        let log = store::open(&config)
            .await
            .with_context(|| format!("cannot open the event log ({place})"))?;
        let client = async_nats::connect(url).await.with_context(|| {
            format!(
                "cannot connect to NATS at {}",
                crate::redact::redact_url(url)
            )
        })?;
        let js = async_nats::jetstream::new(client);
        let reader = SnapshotReader::JetStream(Box::new(JetStreamReader {
            objects: ObjectBucket::new(js.clone(), &args.snapshot_objects, 1),
            js,
            template: args.snapshot_subject.clone(),
        }));
        Ok(Source::Log(Box::new(LogSource {
            log,
            reader,
            place,
            archive: None,
        })))
    }

    /// The fleet summary and the devices `filter` leaves.
    pub async fn status(&self, filter: &DeviceFilter) -> Result<StatusResponse, Failure> {
        match self {
            Source::Api(client) => {
                let path = format!(
                    "/v1/status?{}",
                    crate::api::requests::device_query_string(filter, 0)
                );
                get_json(client, &path).await
            }
            Source::Log(l) => {
                let board = l.fold_all().await?;
                Ok(StatusResponse::of(&board, filter, SystemClock.now()))
            }
        }
    }

    /// One device's status.
    pub async fn device(&self, device: &DeviceId) -> Result<DeviceStatus, Failure> {
        match self {
            Source::Api(client) => get_json(client, &format!("/v1/devices/{device}")).await,
            Source::Log(l) => {
                let mut board = StatusBoard::new();
                if let Some(archive) = &l.archive {
                    for (tenant, d) in archive.devices().map_err(|e| Failure::Other(e.into()))? {
                        if d == *device {
                            for env in archive.device(&tenant, &d).events {
                                board.apply_archived(&env);
                            }
                        }
                    }
                }
                let mut events = l.log.device_history(device);
                while let Some(item) = events.next().await {
                    let env = item.map_err(|e| Failure::Other(e.into()))?;
                    board.apply(env.seq, &env);
                }
                board
                    .get(device)
                    .ok_or_else(|| Failure::NotFound(format!("no device {device}")))
            }
        }
    }

    /// One page of a device's history.
    pub async fn history(
        &self,
        device: &DeviceId,
        page: HistoryPage,
    ) -> Result<HistoryPageResponse, Failure> {
        match self {
            Source::Api(client) => {
                let mut q = form_urlencoded::Serializer::new(String::new());
                q.append_pair("after", &page.after.to_string());
                q.append_pair("limit", &page.limit.to_string());
                if let Some(s) = page.since {
                    q.append_pair("since", &s.as_millis().to_string());
                }
                if let Some(u) = page.until {
                    q.append_pair("until", &u.as_millis().to_string());
                }
                let path = format!("/v1/devices/{device}/history?{}", q.finish());
                get_json(client, &path).await
            }
            Source::Log(l) => Ok(reads::history_page(&*l.log, device, page).await?),
        }
    }

    /// The diff between two of a device's configs (its last change without).
    pub async fn diff(
        &self,
        device: &DeviceId,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<ConfigDiff, Failure> {
        match self {
            Source::Api(client) => {
                let mut q = form_urlencoded::Serializer::new(String::new());
                if let Some(o) = old {
                    q.append_pair("old", o);
                }
                if let Some(n) = new {
                    q.append_pair("new", n);
                }
                let path = format!("/v1/devices/{device}/diff?{}", q.finish());
                get_json(client, &path).await
            }
            Source::Log(l) => Ok(reads::diff(&*l.log, &l.reader, device, old, new).await?),
        }
    }
}

impl Source {
    /// A retention pass over the snapshot files: by the daemon (`--api`),
    /// or here on a stopped daemon's data directory.
    pub async fn gc(
        &self,
        keep: Option<usize>,
        keep_days: Option<u64>,
        dry_run: bool,
    ) -> Result<GcReport, Failure> {
        match self {
            Source::Api(client) => {
                let mut q = form_urlencoded::Serializer::new(String::new());
                q.append_pair("dry_run", if dry_run { "true" } else { "false" });
                if let Some(k) = keep {
                    q.append_pair("keep", &k.to_string());
                }
                if let Some(d) = keep_days {
                    q.append_pair("keep_days", &d.to_string());
                }
                let path = format!("/v1/snapshots/gc?{}", q.finish());
                let (code, body) = client.call("POST", &path, None).await?;
                if code != 200 {
                    return Err(Failure::Other(anyhow::anyhow!(
                        "{code}: {}",
                        error_text(&body)
                    )));
                }
                serde_json::from_slice(&body)
                    .map_err(|e| Failure::Other(anyhow::anyhow!("the answer does not read: {e}")))
            }
            Source::Log(l) => {
                let SnapshotReader::Files(files) = &l.reader else {
                    return Err(Failure::Other(anyhow::anyhow!(
                        "snapshots on JetStream are kept by the stream: bound it with max_age or max_msgs_per_subject"
                    )));
                };
                let rule = RetentionRule { keep, keep_days };
                if rule.is_empty() {
                    return Err(Failure::Other(anyhow::anyhow!(
                        "give --keep or --keep-days"
                    )));
                }
                let report = collect_garbage(&*l.log, files, rule, SystemClock.now(), dry_run)
                    .await
                    .map_err(anyhow::Error::from)?;
                Ok(report)
            }
        }
    }
}

impl LogSource {
    /// Fold the whole log into a board, saying how far it got every two
    /// seconds on stderr while it takes long.
    async fn fold_all(&self) -> Result<StatusBoard, Failure> {
        // From the newest checkpoint when there is one (the daemon's own
        // start), else from the archive and then the whole live log.
        let start = match crate::daemon::checkpoint::newest(&*self.log).await {
            Some((restored, board)) => {
                eprintln!(
                    "from checkpoint {} at log position {} ({} devices)",
                    restored.name, restored.position, restored.devices
                );
                board
            }
            None => {
                let mut board = StatusBoard::new();
                if let Some(archive) = &self.archive {
                    archive.for_each(
                        |env| {
                            board.apply_archived(env);
                        },
                        |p| eprintln!("archive: {p}"),
                    );
                }
                board
            }
        };
        let board = Arc::new(Mutex::new(start));
        let projector = Projector::new(self.log.clone(), board.clone());
        let mut folded = projector.folded();
        let place = self.place.clone();
        let progress = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let at = *folded.borrow_and_update();
                eprintln!("folding {place}: at log position {at} …");
            }
        });
        let result = projector.catch_up().await;
        progress.abort();
        result.with_context(|| format!("cannot read the event log ({})", self.place))?;
        drop(projector);
        let board = Arc::try_unwrap(board)
            .map_err(|_| anyhow::anyhow!("the status board is still shared"))?
            .into_inner()
            .map_err(|_| anyhow::anyhow!("the status board is poisoned"))?;
        Ok(board)
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(
    client: &ApiClient,
    path: &str,
) -> Result<T, Failure> {
    let (code, body) = client.call("GET", path, None).await?;
    match code {
        200 => serde_json::from_slice(&body)
            .with_context(|| format!("the API's answer to {path} does not read"))
            .map_err(Failure::Other),
        404 => Err(Failure::NotFound(error_text(&body))),
        _ => Err(Failure::Other(anyhow::anyhow!("{}", error_text(&body)))),
    }
}
