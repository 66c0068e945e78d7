//! Schema migrations. Plain SQL, so the schema `sqlite3 .schema` prints is
//! the one written here.

use sea_orm::ConnectionTrait;
use sea_orm_migration::{MigrationName, MigrationTrait, MigratorTrait, SchemaManager, async_trait};

pub(crate) struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Initial), Box::new(DisabledReason), Box::new(Leases)]
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
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE vigies ADD COLUMN disabled_reason TEXT;")
            .await
            .map(drop)
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), sea_orm::DbErr> {
        manager.get_connection().execute_unprepared(INITIAL).await.map(drop)
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
        manager.get_connection().execute_unprepared(LEASES).await.map(drop)
    }
}
