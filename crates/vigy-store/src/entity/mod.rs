#![allow(unreachable_pub)] // the entity derives generate public items
//! SeaORM entities, one per table. Timestamps are ISO-8601 UTC text and
//! JSON columns are text, so every table reads well in `sqlite3`.

pub(crate) mod event;
pub(crate) mod kv;
pub(crate) mod run;
pub(crate) mod state;
pub(crate) mod vigy;
