//! Read models folded from the log: status, history, metrics.
