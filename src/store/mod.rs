//! The event log: every input of every device's machine, in order.
//!
//! One contract ([`EventLog`], to come), three backends: JetStream
//! (production), embedded redb (the default without NATS) and memory (tests
//! and simulations).
