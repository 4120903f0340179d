//! The simulated RouterOS fleet: a test double that serves real SSH on
//! loopback ports, with generated exports and the faults routers show.
//!
//! Shipped because `confkeep demo` and `confkeep sim-devices` use it; the
//! tests and benchmarks start the same fleet in-process. Only the face
//! (`cli/`), tests and benches import this room: `effects`, `store` and
//! `domain` never do (a test checks).
//!
//! - [`routeros_gen`]: RouterOS 6/7 exports, wrapped and escaped as real
//!   routers print them.
//! - [`sim_fleet`]: the devices (one port and host key each) and their faults.
//! - `sim_hostile`: misbehaviour below SSH (a key exchange that never
//!   completes, drops before it).

pub mod routeros_gen;
pub mod sim_fleet;
mod sim_hostile;
