//! Schema migrations. Plain SQL, so the schema `sqlite3 .schema` (or
//! `psql`'s `\d`) prints is the one written here. It is written once, in
//! SQLite's words; [`dialect`] names every difference PostgreSQL needs.

use std::borrow::Cow;

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::{MigrationName, MigrationTrait, MigratorTrait, SchemaManager, async_trait};

pub(crate) struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Initial),
            Box::new(DisabledReason),
            Box::new(Leases),
            Box::new(RunSequence),
            Box::new(Outbox),
            Box::new(Schedules),
        ]
    }
}

struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "m20261125_000001_initial"
    }
}

const INITIAL: &str = r#"
CREATE TABLE IF NOT EXISTS vigies (
    id               TEXT    NOT NULL PRIMARY KEY,
    name             TEXT    NOT NULL UNIQUE,
    program          TEXT    NOT NULL,
    tick_interval_ms INTEGER NOT NULL CHECK (tick_interval_ms >= 100),
    enabled          BOOLEAN NOT NULL,
    labels           TEXT    NOT NULL DEFAULT '{}',
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS vigy_runs (
    id             TEXT    NOT NULL PRIMARY KEY,
    vigy_id        TEXT    NOT NULL,
    tick           INTEGER NOT NULL,
    started_at     TEXT    NOT NULL,
    ended_at       TEXT    NOT NULL,
    result         TEXT    NOT NULL CHECK (result IN ('ok', 'failed', 'skipped')),
    error          TEXT,
    actions        TEXT    NOT NULL DEFAULT '[]',
    logs           TEXT    NOT NULL DEFAULT '[]',
    logs_truncated BOOLEAN NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS vigy_runs_by_vigy ON vigy_runs (vigy_id, started_at);
CREATE INDEX IF NOT EXISTS vigy_runs_by_start ON vigy_runs (started_at);
CREATE TABLE IF NOT EXISTS vigy_kv (
    vigy_id    TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (vigy_id, key)
) WITHOUT ROWID;
-- What each vigy last reported with vigy-desired / vigy-observed. Written
-- only when the report changes; the tick count, pending actions and time of
-- the state come from the vigy's newest run.
CREATE TABLE IF NOT EXISTS vigy_state (
    vigy_id     TEXT NOT NULL PRIMARY KEY,
    desired     TEXT NOT NULL DEFAULT '{}',
    observed    TEXT NOT NULL DEFAULT '{}',
    reported_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS vigy_events (
    id      INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    vigy_id TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    at      TEXT    NOT NULL
);
"#;

/// Why the runtime disabled a vigy (quarantine).
struct DisabledReason;

impl MigrationName for DisabledReason {
    fn name(&self) -> &str {
        "m20261201_000001_disabled_reason"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for DisabledReason {
    async fn up(&self, manager: &SchemaManager) -> Result<(), sea_orm::DbErr> {
        run(manager, "ALTER TABLE vigies ADD COLUMN disabled_reason TEXT;").await
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), sea_orm::DbErr> {
        run(manager, INITIAL).await
    }
}

/// Who ticks each vigy (see `lease.rs`): the runtimes that schedule, their
/// leases, the fencing counter every claim draws from, and forced ticks
/// asked of the owner by other processes.
struct Leases;

impl MigrationName for Leases {
    fn name(&self) -> &str {
        "m20261201_000002_leases"
    }
}

const LEASES: &str = r#"
-- One row per scheduling runtime, kept fresh by its lease rounds.
CREATE TABLE IF NOT EXISTS vigy_runtimes (
    id           TEXT    NOT NULL PRIMARY KEY,
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    scope        TEXT    NOT NULL,
    started_at   TEXT    NOT NULL,
    heartbeat_ms BIGINT  NOT NULL,
    -- Alive until then: its last heartbeat plus its own lease TTL.
    expires_ms   BIGINT  NOT NULL
);
-- The runtime allowed to tick (and write for) each vigy, until expires_ms
-- (the database's clock, ms since the epoch). No row: nobody holds it.
CREATE TABLE IF NOT EXISTS vigy_leases (
    vigy_id     TEXT   NOT NULL PRIMARY KEY,
    owner       TEXT   NOT NULL,
    token       BIGINT NOT NULL,
    acquired_ms BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS vigy_leases_by_owner ON vigy_leases (owner);
-- Fencing tokens: every claim takes the next value, so a token is never
-- handed out twice, even across a vigy's delete and re-registration.
CREATE TABLE IF NOT EXISTS vigy_fence (
    id    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    token BIGINT  NOT NULL
);
INSERT INTO vigy_fence (id, token) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
-- A forced tick asked of whichever runtime holds the vigy's lease; run_id
-- is set in the transaction that commits the run.
CREATE TABLE IF NOT EXISTS vigy_tick_requests (
    id           TEXT NOT NULL PRIMARY KEY,
    vigy_id      TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    claimed_by   TEXT,
    run_id       TEXT,
    error        TEXT
);
CREATE INDEX IF NOT EXISTS vigy_tick_requests_by_vigy ON vigy_tick_requests (vigy_id);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Leases {
    async fn up(&self, manager: &SchemaManager) -> Result<(), sea_orm::DbErr> {
        run(manager, LEASES).await
    }
}

/// Runs numbered in commit order (`seq`, from one counter every writer
/// draws from in its transaction): what listings, retention and `vigy tail`
/// order by, instead of wall clocks that differ between hosts or rowids
/// SQLite reuses after deletes.
struct RunSequence;

impl MigrationName for RunSequence {
    fn name(&self) -> &str {
        "m20261201_000003_run_sequence"
    }
}

const RUN_SEQUENCE: &str = r#"
ALTER TABLE vigy_runs ADD COLUMN seq BIGINT;
CREATE INDEX IF NOT EXISTS vigy_runs_by_seq ON vigy_runs (seq);
CREATE INDEX IF NOT EXISTS vigy_runs_by_vigy_seq ON vigy_runs (vigy_id, seq);
CREATE TABLE IF NOT EXISTS vigy_sequence (
    id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq BIGINT  NOT NULL
);
"#;

#[async_trait::async_trait]
impl MigrationTrait for RunSequence {
    async fn up(&self, manager: &SchemaManager) -> Result<(), sea_orm::DbErr> {
        run(manager, RUN_SEQUENCE).await?;
        let db = manager.get_connection();
        // Runs already stored keep their insertion order (PostgreSQL
        // databases are new: this migration ships with its support).
        if db.get_database_backend() == DatabaseBackend::Sqlite {
            db.execute_unprepared("UPDATE vigy_runs SET seq = rowid").await?;
        }
        db.execute_unprepared("INSERT INTO vigy_sequence (id, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM vigy_runs")
            .await
            .map(drop)
    }
}

/// The actions still to carry out and the conditions of each vigy
/// (`outbox.rs`).
struct Outbox;

impl MigrationName for Outbox {
    fn name(&self) -> &str {
        "m20261202_000004_outbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Outbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), sea_orm::DbErr> {
        run(manager, crate::outbox::SCHEMA).await
    }
}

/// Cron schedules and the rules around a vigy's ticks (jitter, window,
/// catch-up, backoff), and pauses. A cron vigy keeps 1000 in
/// `tick_interval_ms`, so the first migration's check holds without
/// rebuilding the table on SQLite.
struct Schedules;

impl MigrationName for Schedules {
    fn name(&self) -> &str {
        "m20261202_000005_schedules"
    }
}

const SCHEDULES: &str = r#"
ALTER TABLE vigies ADD COLUMN cron TEXT;
ALTER TABLE vigies ADD COLUMN tz TEXT;
ALTER TABLE vigies ADD COLUMN jitter_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE vigies ADD COLUMN starts_at TEXT;
ALTER TABLE vigies ADD COLUMN ends_at TEXT;
ALTER TABLE vigies ADD COLUMN catch_up_window_ms BIGINT;
ALTER TABLE vigies ADD COLUMN pause_after_failures BIGINT;
ALTER TABLE vigies ADD COLUMN backoff_base_ms BIGINT;
ALTER TABLE vigies ADD COLUMN backoff_cap_ms BIGINT;
ALTER TABLE vigies ADD COLUMN paused_reason TEXT;
ALTER TABLE vigies ADD COLUMN paused_at TEXT;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Schedules {
    async fn up(&self, manager: &SchemaManager) -> Result<(), sea_orm::DbErr> {
        run(manager, SCHEDULES).await
    }
}

/// Run `sql`, written for SQLite, on the manager's database.
async fn run(manager: &SchemaManager<'_>, sql: &str) -> Result<(), sea_orm::DbErr> {
    let db = manager.get_connection();
    db.execute_unprepared(&dialect(sql, db.get_database_backend())).await.map(drop)
}

/// `sql` as `backend` takes it: on PostgreSQL 64-bit integers (the
/// entities read every integer as `i64`), a serial key for the feed, a
/// boolean default spelled as one, and no `WITHOUT ROWID`.
fn dialect(sql: &str, backend: DatabaseBackend) -> Cow<'_, str> {
    if backend != DatabaseBackend::Postgres {
        return Cow::Borrowed(sql);
    }
    Cow::Owned(
        sql.replace("INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
            .replace(") WITHOUT ROWID;", ");")
            .replace("BOOLEAN NOT NULL DEFAULT 0", "BOOLEAN NOT NULL DEFAULT FALSE")
            .replace(" INTEGER ", " BIGINT "),
    )
}
