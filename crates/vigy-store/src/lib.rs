//! vigy's store: SeaORM on SQLite (a file, the default) or PostgreSQL (a
//! `postgres://` URL, for runtimes on many hosts).
//!
//! Two pools on one file: a single-connection writer, so this process's
//! writes never contend with each other (other processes wait on SQLite's
//! busy timeout), and a reader pool that, under WAL, reads the last
//! committed snapshot without waiting for a write to finish.
//!
//! Tables (see `migration.rs`): `vigies`, `vigy_runs`, `vigy_kv`,
//! `vigy_state`, `vigy_events`, `vigy_outbox` and `vigy_conditions` (`outbox.rs`); and for leases (`lease.rs`) `vigy_runtimes`,
//! `vigy_leases`, `vigy_fence`, `vigy_tick_requests`.

mod convert;
mod entity;
#[cfg(feature = "fault-injection")]
pub mod faults;
mod lease;
mod listing;
mod migration;
mod outbox;
mod path;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use lease::{Lease, LeaseRequest, LeaseRound, RuntimeInfo, TickRequest};
pub use listing::RunPage;
pub use outbox::{ActionUpdate, Carried};
pub use path::{DB_ENV, default_db_path};
pub use store::{
    Changes, EventRow, MAX_LISTING_BYTES, Registered, Store, StoreError, StoreOptions, TickRecord, location_name,
};
