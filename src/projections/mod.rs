//! Read models folded from the log: status, history index, metrics.
//!
//! One [`projector::Projector`] reads the log's tail from its checkpoint
//! (replay at start-up, then live) and folds each envelope into the
//! [`status::StatusBoard`] (rows, fleet summary, counts per phase and per
//! outcome, events per device) and the Prometheus metrics. Nothing here is
//! fed by the runner: what any writer appends is seen the same way. The
//! CLI folds a replay into the same board.

pub mod blocked_ticks;
pub mod coverage;
pub mod metrics;
pub mod notifications;
pub mod projector;
pub mod snapshots;
pub mod sql;
pub mod status;
