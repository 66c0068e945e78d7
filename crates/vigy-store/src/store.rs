use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use futures::TryStreamExt;
use sea_orm::sea_query::{Expr, OnConflict, SimpleExpr};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use serde_json::{Map as JsonMap, Value as Json};
use vigy_types::{Pause, Timestamp, Vigy, VigyId, VigyRun, VigyState, format_timestamp};

use crate::convert::{run_from_row, run_to_row, state_from_rows, vigy_from_row, vigy_to_row};
use crate::entity::{event, kv, run, state, vigy};
use crate::migration::Migrator;

/// Rows per multi-row `INSERT`: well under SQLite's bound-parameter limit.
pub(crate) const CHUNK: usize = 400;

/// The most bytes of runs one [`Store::recent_runs`] returns: 1,000 runs of
/// up to ~1 MiB each would otherwise make one listing a gigabyte.
pub const MAX_LISTING_BYTES: usize = 8 * 1024 * 1024;

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long a write waits for another process's write lock before it
    /// fails with "database is locked" (default 10 s).
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { busy_timeout: Duration::from_secs(10) }
    }
}

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// A row that does not hold a valid value.
    #[error("corrupt row `{id}` in {table}: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The row's key.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `--db` / `$VIGY_DB` looks like a PostgreSQL URL but is not one.
    #[error("not a PostgreSQL URL: {reason}")]
    BadUrl {
        /// The URL, its password hidden.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The PostgreSQL server did not accept a connection.
    #[error("cannot reach the PostgreSQL server: {reason}")]
    Unreachable {
        /// The URL, its password hidden.
        url: String,
        /// Why.
        reason: String,
    },
    /// The database file's directory could not be created.
    #[error("cannot create {path}: {source}")]
    Io {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// What [`Store::register`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// A new vigy.
    Created,
    /// An existing vigy whose program, interval or labels changed.
    Updated,
    /// An existing vigy, identical.
    Unchanged,
}

/// Everything one tick writes; committed atomically with the other ticks
/// of its batch.
#[derive(Debug, Clone)]
pub struct TickRecord {
    /// The run.
    pub run: VigyRun,
    /// Key/value writes (`None` deletes).
    pub kv_changes: BTreeMap<String, Option<Json>>,
    /// `desired` and `observed`, when they differ from what was last
    /// written; `None` leaves the previous report in place (a failed tick,
    /// or an unchanged report).
    pub reported: Option<(JsonMap<String, Json>, JsonMap<String, Json>)>,
    /// The fencing token of the lease the tick ran under: the tick is kept
    /// only if its runtime still holds that lease when it commits.
    pub token: u64,
    /// The forced-tick requests (of other processes) this tick carries out.
    pub requests: Vec<String>,
    /// The vigy's conditions after this tick, when it changed them; `None`
    /// leaves them as they are.
    pub conditions: Option<Vec<vigy_types::Condition>>,
}

/// One row of the lifecycle change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Position in the feed.
    pub id: i64,
    /// The vigy that changed; `None` for a change of leases.
    pub vigy_id: Option<VigyId>,
    /// `registered`, `updated`, `enabled`, `disabled`, `deleted`,
    /// `tick-requested` (a forced tick asked of the owner) or `released`
    /// (leases given up: free for another runtime to claim).
    pub kind: String,
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) writer: DatabaseConnection,
    pub(crate) reader: DatabaseConnection,
    /// Copies the WAL back into the database off the writer's path; `None`
    /// in memory, where there is no WAL, and on PostgreSQL.
    checkpointer: Option<DatabaseConnection>,
    /// The server's URL, on PostgreSQL: where change notifications are
    /// listened for.
    postgres: Option<String>,
}

impl Store {
    /// Open (creating it and its directory if needed) and migrate the
    /// SQLite database at `path`, or the PostgreSQL database `path` names
    /// when it is a `postgres://` (or `postgresql://`) URL.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, &StoreOptions::default()).await
    }

    /// [`Store::open`] with `options`.
    pub async fn open_with(path: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        if let Some(url) = postgres_url(path) {
            return Self::open_postgres(url).await;
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::Io { path: dir.display().to_string(), source })?;
        }
        let writer = connect(path, Role::Writer, options).await?;
        Migrator::up(&writer, None).await?;
        let reader = connect(path, Role::Reader, options).await?;
        let checkpointer = Some(connect(path, Role::Checkpointer, options).await?);
        Ok(Self { writer, reader, checkpointer, postgres: None })
    }

    /// The PostgreSQL database at `url`: one writer connection, as on
    /// SQLite (this process's writes stay in order), and a reader pool.
    async fn open_postgres(url: &str) -> Result<Self, StoreError> {
        use sea_orm::sqlx::Connection;
        use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
        let shown = hide_password(url);
        let parsed = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::BadUrl { url: shown.clone(), reason: e.to_string() })?;
        // One connection first, for the server's own reason when it fails
        // (a pool reports only that it timed out).
        let probe = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect_with(&parsed)).await;
        let reason = match probe {
            Ok(Ok(connection)) => {
                connection.close().await.ok();
                None
            }
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("no answer within 5 s".to_owned()),
        };
        if let Some(reason) = reason {
            return Err(StoreError::Unreachable { url: shown, reason });
        }
        let connect = |connections: u32| {
            let mut options = ConnectOptions::new(url);
            options
                .max_connections(connections)
                .min_connections(1)
                .connect_timeout(Duration::from_secs(5))
                .acquire_timeout(Duration::from_secs(10))
                .sqlx_logging(false);
            Database::connect(options)
        };
        let unreachable = |e: DbErr| StoreError::Unreachable { url: shown.clone(), reason: one_line(&e) };
        let writer = connect(1).await.map_err(unreachable)?;
        Migrator::up(&writer, None).await?;
        let reader = connect(8).await.map_err(unreachable)?;
        Ok(Self { writer, reader, checkpointer: None, postgres: Some(url.to_owned()) })
    }

    /// Which database this is.
    pub fn backend(&self) -> sea_orm::DatabaseBackend {
        self.writer.get_database_backend()
    }

    /// On PostgreSQL, a listener woken by every change-feed event any
    /// process commits (`LISTEN vigy_events`); `None` on SQLite, where the
    /// feed is polled.
    pub async fn listen(&self) -> Result<Option<Changes>, StoreError> {
        let Some(url) = &self.postgres else { return Ok(None) };
        let unreachable =
            |e: sea_orm::sqlx::Error| StoreError::Unreachable { url: hide_password(url), reason: e.to_string() };
        let mut listener = sea_orm::sqlx::postgres::PgListener::connect(url).await.map_err(unreachable)?;
        listener.listen(CHANGES_CHANNEL).await.map_err(unreachable)?;
        Ok(Some(Changes(listener)))
    }

    /// A private database in memory, gone when the store is dropped.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let mut options = ConnectOptions::new("sqlite::memory:");
        // One connection that never closes: a second one, or a reconnect,
        // would be a different, empty database.
        options.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None).sqlx_logging(false);
        let db = Database::connect(options).await?;
        Migrator::up(&db, None).await?;
        Ok(Self { writer: db.clone(), reader: db, checkpointer: None, postgres: None })
    }

    // ---- lifecycle ------------------------------------------------------

    /// Insert `v`, or update the stored vigy of the same id. An existing
    /// vigy keeps its `created_at` and its `enabled` flag (lifecycle state
    /// belongs to enable/disable, so an app re-registering at start-up does
    /// not undo an operator's disable). Returns the stored vigy.
    pub async fn register(&self, v: &Vigy) -> Result<(Registered, Vigy), StoreError> {
        let txn = self.begin_write().await?;
        let existing = vigy::Entity::find_by_id(v.id.to_string()).one(&txn).await?;
        let (outcome, stored) = match existing {
            None => {
                vigy::Entity::insert(vigy_to_row(v).into_active_model()).exec_without_returning(&txn).await?;
                (Registered::Created, v.clone())
            }
            Some(row) => {
                let old = vigy_from_row(row)?;
                let mut new = v.clone();
                new.enabled = old.enabled;
                new.disabled_reason = old.disabled_reason.clone();
                new.paused = old.paused.clone();
                new.created_at = old.created_at;
                if !old.differs_in_behaviour(&new) {
                    (Registered::Unchanged, old)
                } else {
                    let row = vigy_to_row(&new);
                    vigy::Entity::update_many()
                        .col_expr(vigy::Column::Program, Expr::value(row.program))
                        .col_expr(vigy::Column::TickIntervalMs, Expr::value(row.tick_interval_ms))
                        .col_expr(vigy::Column::Cron, Expr::value(row.cron))
                        .col_expr(vigy::Column::Tz, Expr::value(row.tz))
                        .col_expr(vigy::Column::JitterMs, Expr::value(row.jitter_ms))
                        .col_expr(vigy::Column::StartsAt, Expr::value(row.starts_at))
                        .col_expr(vigy::Column::EndsAt, Expr::value(row.ends_at))
                        .col_expr(vigy::Column::CatchUpWindowMs, Expr::value(row.catch_up_window_ms))
                        .col_expr(vigy::Column::PauseAfterFailures, Expr::value(row.pause_after_failures))
                        .col_expr(vigy::Column::BackoffBaseMs, Expr::value(row.backoff_base_ms))
                        .col_expr(vigy::Column::BackoffCapMs, Expr::value(row.backoff_cap_ms))
                        .col_expr(vigy::Column::Labels, Expr::value(row.labels))
                        .col_expr(vigy::Column::UpdatedAt, Expr::value(row.updated_at))
                        .filter(vigy::Column::Id.eq(row.id))
                        .exec(&txn)
                        .await?;
                    (Registered::Updated, new)
                }
            }
        };
        match outcome {
            Registered::Created => record_event(&txn, Some(v.id), "registered", &v.updated_at).await?,
            Registered::Updated => record_event(&txn, Some(v.id), "updated", &v.updated_at).await?,
            Registered::Unchanged => {}
        }
        txn.commit().await?;
        Ok((outcome, stored))
    }

    /// Enable or disable (an operator's choice, so any quarantine reason
    /// goes); `None` if there is no such vigy.
    pub async fn set_enabled(&self, id: VigyId, enabled: bool, at: Timestamp) -> Result<Option<Vigy>, StoreError> {
        self.set_lifecycle(id, enabled, None, at).await
    }

    /// Disable `id` because its ticks keep costing their worker its life,
    /// recording `reason`; `None` if there is no such vigy.
    pub async fn quarantine(&self, id: VigyId, reason: &str, at: Timestamp) -> Result<Option<Vigy>, StoreError> {
        self.set_lifecycle(id, false, Some(reason.to_owned()), at).await
    }

    async fn set_lifecycle(
        &self,
        id: VigyId,
        enabled: bool,
        reason: Option<String>,
        at: Timestamp,
    ) -> Result<Option<Vigy>, StoreError> {
        self.edit_vigy(id, at, |v| {
            if v.enabled == enabled && v.disabled_reason == reason {
                return None;
            }
            v.enabled = enabled;
            v.disabled_reason.clone_from(&reason);
            let columns = vec![
                (vigy::Column::Enabled, Expr::value(enabled)),
                (vigy::Column::DisabledReason, Expr::value(reason)),
            ];
            Some((columns, if enabled { "enabled" } else { "disabled" }))
        })
        .await
    }

    /// Pause `id` with `pause` (its reason and time), or resume it with
    /// `None`; `None` if there is no such vigy. Pausing a paused vigy again
    /// keeps the first pause.
    pub async fn set_paused(
        &self,
        id: VigyId,
        pause: Option<Pause>,
        at: Timestamp,
    ) -> Result<Option<Vigy>, StoreError> {
        self.edit_vigy(id, at, |v| {
            if v.paused.is_some() == pause.is_some() {
                return None;
            }
            let columns = vec![
                (vigy::Column::PausedReason, Expr::value(pause.as_ref().map(|p| p.reason.clone()))),
                (vigy::Column::PausedAt, Expr::value(pause.as_ref().map(|p| format_timestamp(&p.at)))),
            ];
            let event = if pause.is_some() { "paused" } else { "resumed" };
            v.paused = pause;
            Some((columns, event))
        })
        .await
    }

    /// Change one vigy's row in one transaction: `change` edits the vigy and
    /// names the columns it changed with the event to record, or `None` if
    /// there is nothing to change (nothing is written). `None` if there is
    /// no such vigy.
    async fn edit_vigy(
        &self,
        id: VigyId,
        at: Timestamp,
        change: impl FnOnce(&mut Vigy) -> Option<(Vec<(vigy::Column, SimpleExpr)>, &'static str)>,
    ) -> Result<Option<Vigy>, StoreError> {
        let txn = self.begin_write().await?;
        let Some(row) = vigy::Entity::find_by_id(id.to_string()).one(&txn).await? else {
            return Ok(None);
        };
        let mut v = vigy_from_row(row)?;
        if let Some((columns, event)) = change(&mut v) {
            v.updated_at = at;
            let mut update =
                vigy::Entity::update_many().col_expr(vigy::Column::UpdatedAt, Expr::value(format_timestamp(&at)));
            for (column, value) in columns {
                update = update.col_expr(column, value);
            }
            update.filter(vigy::Column::Id.eq(id.to_string())).exec(&txn).await?;
            record_event(&txn, Some(id), event, &at).await?;
        }
        txn.commit().await?;
        Ok(Some(v))
    }

    /// Delete a vigy with its runs, kv, state and lease; `false` if there
    /// was none. Dropping the lease fences out every tick of it still in
    /// flight anywhere: registered again, it starts a new tenure.
    pub async fn delete(&self, id: VigyId, at: Timestamp) -> Result<bool, StoreError> {
        let key = id.to_string();
        let txn = self.begin_write().await?;
        let deleted = vigy::Entity::delete_by_id(key.clone()).exec(&txn).await?.rows_affected > 0;
        if deleted {
            run::Entity::delete_many().filter(run::Column::VigyId.eq(key.clone())).exec(&txn).await?;
            kv::Entity::delete_many().filter(kv::Column::VigyId.eq(key.clone())).exec(&txn).await?;
            state::Entity::delete_many().filter(state::Column::VigyId.eq(key.clone())).exec(&txn).await?;
            let backend = txn.get_database_backend();
            for table in ["vigy_outbox", "vigy_conditions"] {
                let sql = format!("DELETE FROM {table} WHERE vigy_id = $1");
                txn.execute_raw(Statement::from_sql_and_values(backend, &sql, [key.clone().into()])).await?;
            }
            txn.execute_raw(Statement::from_sql_and_values(
                backend,
                "DELETE FROM vigy_leases WHERE vigy_id = $1",
                [key.clone().into()],
            ))
            .await?;
            txn.execute_raw(Statement::from_sql_and_values(
                backend,
                "UPDATE vigy_tick_requests SET error = 'the vigy was deleted' WHERE vigy_id = $1 AND run_id IS NULL",
                [key.into()],
            ))
            .await?;
            record_event(&txn, Some(id), "deleted", &at).await?;
        }
        txn.commit().await?;
        Ok(deleted)
    }

    // ---- ticks ----------------------------------------------------------

    /// Commit many ticks of runtime `owner` in one transaction: their runs,
    /// kv changes and state, all or nothing. A tick whose lease `owner` no
    /// longer holds with the tick's token (expired, taken over, released,
    /// the vigy deleted) is fenced out: nothing of it is written, and its
    /// index is returned. In the same transaction, trim the runs of the
    /// vigies in `trim` to the newest `keep_runs`.
    pub async fn write_ticks(
        &self,
        ticks: &[TickRecord],
        trim: &[VigyId],
        keep_runs: usize,
        owner: &str,
    ) -> Result<Vec<usize>, StoreError> {
        if ticks.is_empty() && trim.is_empty() {
            return Ok(Vec::new());
        }
        let txn = self.begin_write().await?;
        let mut ids: Vec<VigyId> = ticks.iter().map(|t| t.run.vigy_id).chain(trim.iter().copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        let tokens = crate::lease::live_tokens(&txn, owner, &ids).await?;
        let fenced: Vec<usize> =
            (0..ticks.len()).filter(|i| tokens.get(&ticks[*i].run.vigy_id) != Some(&ticks[*i].token)).collect();
        let kept: Vec<TickRecord>;
        let ticks = if fenced.is_empty() {
            ticks
        } else {
            kept = ticks.iter().enumerate().filter(|(i, _)| !fenced.contains(i)).map(|(_, t)| t.clone()).collect();
            &kept[..]
        };
        // Positions in commit order: the counter's row stays locked until
        // this transaction ends, so a later commit always draws later ones.
        let mut seq = next_seqs(&txn, ticks.len()).await?;
        for chunk in ticks.chunks(CHUNK) {
            let rows = chunk.iter().map(|t| {
                seq += 1;
                run_to_row(&t.run, seq).into_active_model()
            });
            run::Entity::insert_many(rows).exec_without_returning(&txn).await?;
        }
        write_kv(&txn, ticks).await?;
        write_state(&txn, ticks).await?;
        crate::outbox::insert_pending(&txn, ticks).await?;
        crate::outbox::write_conditions(&txn, ticks).await?;
        for tick in ticks {
            for request in &tick.requests {
                txn.execute_raw(Statement::from_sql_and_values(
                    txn.get_database_backend(),
                    "UPDATE vigy_tick_requests SET run_id = $1 WHERE id = $2",
                    [tick.run.id.clone().into(), request.clone().into()],
                ))
                .await?;
            }
        }
        // Retention is the owner's: only a vigy whose lease is held here.
        for id in trim.iter().filter(|id| tokens.contains_key(id)) {
            trim_runs(&txn, *id, keep_runs).await?;
        }
        txn.commit().await?;
        Ok(fenced)
    }

    /// Keep the newest `keep` runs of `id`; returns how many were deleted.
    pub async fn trim_runs(&self, id: VigyId, keep: usize) -> Result<u64, StoreError> {
        trim_runs(&self.writer, id, keep).await
    }

    /// Remove runs, kv and state left by vigies that no longer exist (a
    /// tick that finished in one process after another deleted its vigy),
    /// and keep the newest `keep_events` lifecycle events.
    pub async fn collect_garbage(&self, keep_events: usize) -> Result<u64, StoreError> {
        let txn = self.begin_write().await?;
        let mut removed = 0;
        for table in ["vigy_runs", "vigy_kv", "vigy_state", "vigy_outbox", "vigy_conditions"] {
            let sql = format!("DELETE FROM {table} WHERE vigy_id NOT IN (SELECT id FROM vigies)");
            removed += txn.execute_unprepared(&sql).await?.rows_affected();
        }
        let sql = format!("DELETE FROM vigy_events WHERE id <= (SELECT MAX(id) FROM vigy_events) - {keep_events}");
        removed += txn.execute_unprepared(&sql).await?.rows_affected();
        // Answered forced ticks (their callers read the answer within
        // moments) and runtimes silent for an hour.
        let now = crate::lease::db_now_ms(&txn).await?;
        let hour_ago = format_timestamp(&(chrono::Utc::now() - chrono::Duration::hours(1)));
        let stale = [
            Statement::from_sql_and_values(
                txn.get_database_backend(),
                "DELETE FROM vigy_tick_requests WHERE requested_at < $1",
                [hour_ago.into()],
            ),
            Statement::from_sql_and_values(
                txn.get_database_backend(),
                "DELETE FROM vigy_runtimes WHERE heartbeat_ms < $1",
                [(now - 3_600_000).into()],
            ),
        ];
        for statement in stale {
            removed += txn.execute_raw(statement).await?.rows_affected();
        }
        txn.commit().await?;
        Ok(removed)
    }

    // ---- reads ----------------------------------------------------------

    /// The vigy with this id.
    pub async fn get(&self, id: VigyId) -> Result<Option<Vigy>, StoreError> {
        vigy::Entity::find_by_id(id.to_string()).one(&self.reader).await?.map(vigy_from_row).transpose()
    }

    /// Every vigy, by name.
    pub async fn list(&self) -> Result<Vec<Vigy>, StoreError> {
        self.vigy_rows().await?.into_iter().map(vigy_from_row).collect()
    }

    /// Every vigy that reads back, by name, beside the error of each row
    /// that does not (naming the row): one damaged row need not keep a
    /// runtime from opening on the others.
    pub async fn list_readable(&self) -> Result<(Vec<Vigy>, Vec<StoreError>), StoreError> {
        let rows = self.vigy_rows().await?;
        let (vigies, corrupt): (Vec<_>, Vec<_>) = rows.into_iter().map(vigy_from_row).partition(Result::is_ok);
        Ok((vigies.into_iter().flatten().collect(), corrupt.into_iter().filter_map(Result::err).collect()))
    }

    async fn vigy_rows(&self) -> Result<Vec<vigy::Model>, StoreError> {
        Ok(vigy::Entity::find().order_by_asc(vigy::Column::Name).all(&self.reader).await?)
    }

    /// The newest `limit` runs of `id`, newest first, cut short before the
    /// run that would take the listing past [`MAX_LISTING_BYTES`] (the
    /// newest run is always included). Rows are read one at a time, so an
    /// oversized listing is never held in memory either.
    pub async fn recent_runs(&self, id: VigyId, limit: u64) -> Result<Vec<VigyRun>, StoreError> {
        let mut rows = run::Entity::find()
            .filter(run::Column::VigyId.eq(id.to_string()))
            .order_by_desc(run::Column::Seq)
            .limit(limit)
            .stream(&self.reader)
            .await?;
        let (mut runs, mut bytes) = (Vec::new(), 0);
        while let Some(row) = rows.try_next().await? {
            bytes += row_bytes(&row);
            if bytes > MAX_LISTING_BYTES && !runs.is_empty() {
                break;
            }
            runs.push(run_from_row(row)?);
        }
        Ok(runs)
    }

    /// The run with this id.
    pub async fn run(&self, id: &str) -> Result<Option<VigyRun>, StoreError> {
        run::Entity::find_by_id(id.to_owned()).one(&self.reader).await?.map(run_from_row).transpose()
    }

    /// Runs committed after position `cursor` (in commit order, never
    /// reused), oldest first, with their positions: how `vigy tail` follows
    /// the database without skipping a run.
    pub async fn runs_after(&self, cursor: i64, limit: u64) -> Result<Vec<(i64, VigyRun)>, StoreError> {
        let rows = run::Entity::find()
            .filter(run::Column::Seq.gt(cursor))
            .order_by_asc(run::Column::Seq)
            .limit(limit)
            .all(&self.reader)
            .await?;
        rows.into_iter().map(|row| Ok((row.seq, run_from_row(row)?))).collect()
    }

    /// The position of the newest run (0 when there is none).
    pub async fn last_run_position(&self) -> Result<i64, StoreError> {
        self.scalar("SELECT COALESCE(MAX(seq), 0) AS n FROM vigy_runs").await
    }

    /// What `id` last reported, with its newest run's tick count and
    /// actions; `None` before its first tick.
    pub async fn state(&self, id: VigyId) -> Result<Option<VigyState>, StoreError> {
        let report = state::Entity::find_by_id(id.to_string()).one(&self.reader).await?;
        let newest = self.recent_runs(id, 1).await?.pop();
        let conditions = self.conditions(id).await?;
        state_from_rows(id, report, newest, conditions)
    }

    /// Ticks run so far by `id`: the tick number of its newest run (0 before
    /// its first tick).
    pub async fn tick_count(&self, id: VigyId) -> Result<u64, StoreError> {
        Ok(self.recent_runs(id, 1).await?.first().map_or(0, |run| run.tick))
    }

    /// Ticks run so far by every vigy that has ticked: the tick number of
    /// its newest run.
    pub async fn tick_counts(&self) -> Result<HashMap<VigyId, u64>, StoreError> {
        let sql = "SELECT v.id AS id, (SELECT r.tick FROM vigy_runs r WHERE r.vigy_id = v.id \
                   ORDER BY r.seq DESC LIMIT 1) AS tick FROM vigies v";
        let stmt = Statement::from_string(self.reader.get_database_backend(), sql);
        let mut counts = HashMap::new();
        for row in self.reader.query_all_raw(stmt).await? {
            let id: String = row.try_get("", "id")?;
            let tick: Option<i64> = row.try_get("", "tick")?;
            if let (Ok(id), Some(tick)) = (VigyId::from_str(&id), tick) {
                counts.insert(id, tick.max(0) as u64);
            }
        }
        Ok(counts)
    }

    /// The key/value store of `id`.
    pub async fn kv(&self, id: VigyId) -> Result<BTreeMap<String, Json>, StoreError> {
        let rows = kv::Entity::find().filter(kv::Column::VigyId.eq(id.to_string())).all(&self.reader).await?;
        rows.into_iter()
            .map(|r| {
                let value = serde_json::from_str(&r.value).map_err(|e| StoreError::Corrupt {
                    table: "vigy_kv",
                    id: format!("{}/{}", r.vigy_id, r.key),
                    reason: e.to_string(),
                })?;
                Ok((r.key, value))
            })
            .collect()
    }

    /// Lifecycle events after `cursor`, oldest first.
    pub async fn events_after(&self, cursor: i64) -> Result<Vec<EventRow>, StoreError> {
        let rows = event::Entity::find()
            .filter(event::Column::Id.gt(cursor))
            .order_by_asc(event::Column::Id)
            .limit(10_000)
            .all(&self.reader)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| EventRow { id: r.id, vigy_id: VigyId::from_str(&r.vigy_id).ok(), kind: r.kind })
            .collect())
    }

    /// The position of the oldest lifecycle event still kept (0 when there
    /// is none): a follower whose cursor is further back than that missed
    /// events that were collected while it was away.
    pub async fn first_event_id(&self) -> Result<i64, StoreError> {
        self.scalar("SELECT COALESCE(MIN(id), 0) AS n FROM vigy_events").await
    }

    /// The position of the newest lifecycle event (0 when there is none).
    pub async fn last_event_id(&self) -> Result<i64, StoreError> {
        self.scalar("SELECT COALESCE(MAX(id), 0) AS n FROM vigy_events").await
    }

    /// Copy committed WAL frames back into the database without blocking the
    /// writer (`PRAGMA wal_checkpoint(PASSIVE)`). The runtime calls this
    /// every fraction of a second, so the writer never pays for a
    /// checkpoint (and its fsync) inside a commit.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)").await?;
        }
        Ok(())
    }

    /// `PRAGMA integrity_check`: `"ok"` for a sound database (PostgreSQL
    /// checks itself: `"ok"` once it answers).
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        if self.postgres.is_some() {
            self.scalar("SELECT CAST(1 AS BIGINT) AS n").await?;
            return Ok("ok".into());
        }
        let stmt = Statement::from_string(self.reader.get_database_backend(), "PRAGMA integrity_check");
        let row = self.reader.query_one_raw(stmt).await?.ok_or_else(|| DbErr::Custom("no result".into()))?;
        Ok(row.try_get_by_index(0)?)
    }

    /// A write transaction that takes SQLite's write lock at `BEGIN`
    /// (`BEGIN IMMEDIATE`). A deferred one that reads first and writes later
    /// fails with `SQLITE_BUSY_SNAPSHOT` when another process committed in
    /// between, which no busy timeout can wait out; an immediate one waits
    /// its turn instead.
    pub(crate) async fn begin_write(&self) -> Result<sea_orm::DatabaseTransaction, DbErr> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        self.writer.begin_with_options(options).await
    }

    pub(crate) async fn scalar(&self, sql: &str) -> Result<i64, StoreError> {
        let stmt = Statement::from_string(self.reader.get_database_backend(), sql);
        let row = self.reader.query_one_raw(stmt).await?.ok_or_else(|| DbErr::Custom("no result".into()))?;
        Ok(row.try_get("", "n")?)
    }
}

#[cfg(feature = "fault-injection")]
impl Store {
    /// Cap the database at its current size (`PRAGMA max_page_count` on the
    /// writer's connection), so a write that needs a new page fails with
    /// `SQLITE_FULL`, as on a full disk; `full = false` lifts the cap.
    pub async fn simulate_full_disk(&self, full: bool) -> Result<(), StoreError> {
        let pages = if full {
            let stmt = Statement::from_string(self.writer.get_database_backend(), "PRAGMA page_count");
            let row = self.writer.query_one_raw(stmt).await?.ok_or_else(|| DbErr::Custom("no page count".into()))?;
            row.try_get_by_index::<i64>(0)?
        } else {
            // SQLite's own default.
            4_294_967_294
        };
        self.writer.execute_unprepared(&format!("PRAGMA max_page_count = {pages}")).await?;
        Ok(())
    }
}

/// What a connection pool is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The one connection that writes.
    Writer,
    /// Read-only connections: under WAL they read the last committed
    /// snapshot without waiting for the writer.
    Reader,
    /// The connection that runs passive checkpoints.
    Checkpointer,
}

async fn connect(path: &Path, role: Role, store: &StoreOptions) -> Result<DatabaseConnection, StoreError> {
    let path = path.to_owned();
    let busy_timeout = store.busy_timeout;
    let mut options = ConnectOptions::new(format!("sqlite://{}", path.display()));
    options
        .max_connections(if role == Role::Reader { 4 } else { 1 })
        .min_connections(1)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| {
            o.filename(&path)
                .create_if_missing(role == Role::Writer)
                .read_only(role == Role::Reader)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(busy_timeout)
                // A batch of thousands of ticks touches many pages: a cache
                // large enough to hold them avoids spilling mid-transaction,
                // and statement journals stay off disk.
                .pragma("cache_size", "-65536")
                .pragma("temp_store", "memory")
                // Checkpoints are the checkpointer's job (see
                // `Store::checkpoint`); a commit checkpoints only if the WAL
                // has grown past ~256 MiB, as a safety net.
                .pragma("wal_autocheckpoint", "65536")
        });
    Ok(Database::connect(options).await?)
}

/// The text a run row holds: about what it weighs in memory and on the wire.
pub(crate) fn row_bytes(row: &run::Model) -> usize {
    let texts = [&row.id, &row.vigy_id, &row.started_at, &row.ended_at, &row.result, &row.actions, &row.logs];
    texts.iter().map(|t| t.len()).sum::<usize>() + row.error.as_ref().map_or(0, String::len)
}

async fn trim_runs(db: &impl ConnectionTrait, id: VigyId, keep: usize) -> Result<u64, StoreError> {
    let sql = "DELETE FROM vigy_runs WHERE vigy_id = $1 AND seq < \
               (SELECT seq FROM vigy_runs WHERE vigy_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)";
    let stmt = Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [id.to_string().into(), (keep.saturating_sub(1) as i64).into()],
    );
    Ok(db.execute_raw(stmt).await?.rows_affected())
}

/// Append to the change feed; `id` is `None` for a change of leases.
pub(crate) async fn record_event(
    db: &impl ConnectionTrait,
    id: Option<VigyId>,
    kind: &str,
    at: &Timestamp,
) -> Result<(), DbErr> {
    let row = event::ActiveModel {
        id: ActiveValue::NotSet,
        vigy_id: ActiveValue::Set(id.map(|id| id.to_string()).unwrap_or_default()),
        kind: ActiveValue::Set(kind.to_owned()),
        at: ActiveValue::Set(format_timestamp(at)),
    };
    event::Entity::insert(row).exec_without_returning(db).await?;
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        // Delivered when the transaction commits, to every listener.
        db.execute_unprepared(&format!("NOTIFY {CHANGES_CHANNEL}")).await?;
    }
    Ok(())
}

/// Take `n` positions in commit order; returns the one before the first.
async fn next_seqs(db: &impl ConnectionTrait, n: usize) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let bump = Statement::from_sql_and_values(
        backend,
        "UPDATE vigy_sequence SET seq = seq + $1 WHERE id = 1",
        [(n as i64).into()],
    );
    db.execute_raw(bump).await?;
    let row =
        db.query_one_raw(Statement::from_string(backend, "SELECT seq AS n FROM vigy_sequence WHERE id = 1")).await?;
    let last: i64 = row.ok_or_else(|| DbErr::Custom("vigy_sequence has no row".into()))?.try_get("", "n")?;
    Ok(last - n as i64)
}

/// The PostgreSQL channel change-feed events are notified on.
const CHANGES_CHANNEL: &str = "vigy_events";

/// Wakes on every change-feed event (PostgreSQL's LISTEN).
#[derive(Debug)]
pub struct Changes(sea_orm::sqlx::postgres::PgListener);

impl Changes {
    /// Wait for the next notification. A lost connection is re-established
    /// at the next call; what was notified meanwhile is not seen, which is
    /// why the feed is also read on a slow timer.
    pub async fn next(&mut self) -> Result<(), StoreError> {
        self.0.recv().await.map(drop).map_err(|e| StoreError::Db(DbErr::Custom(e.to_string())))
    }
}

/// `path` as a PostgreSQL URL, if it is one.
fn postgres_url(path: &Path) -> Option<&str> {
    let text = path.to_str()?;
    (text.starts_with("postgres://") || text.starts_with("postgresql://")).then_some(text)
}

/// `path` as messages name it: a PostgreSQL URL with any password
/// replaced by `***`, a file as its path.
pub fn location_name(path: &Path) -> String {
    match postgres_url(path) {
        Some(url) => hide_password(url),
        None => path.display().to_string(),
    }
}

/// `url` with any password replaced by `***`, for messages.
fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    match rest.split_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{name}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

/// The first line of an error's message, without sea-orm's prefixes.
fn one_line(error: &DbErr) -> String {
    let text = error.to_string();
    let text = text.lines().next().unwrap_or_default();
    text.trim_start_matches("Connection Error: ").trim_start_matches("error communicating with database: ").to_owned()
}

async fn write_kv(db: &impl ConnectionTrait, ticks: &[TickRecord]) -> Result<(), StoreError> {
    // Fold the batch first: the last change of each key wins, whether it
    // writes or deletes (a multi-row upsert may not name one key twice).
    let mut last: BTreeMap<(String, &str), (Option<&Json>, String)> = BTreeMap::new();
    for tick in ticks {
        let at = format_timestamp(&tick.run.ended_at);
        for (key, change) in &tick.kv_changes {
            last.insert((tick.run.vigy_id.to_string(), key), (change.as_ref(), at.clone()));
        }
    }
    let mut upserts = Vec::new();
    for ((vigy_id, key), (change, at)) in last {
        match change {
            Some(value) => upserts.push(kv::ActiveModel {
                vigy_id: ActiveValue::Set(vigy_id),
                key: ActiveValue::Set(key.to_owned()),
                value: ActiveValue::Set(value.to_string()),
                updated_at: ActiveValue::Set(at),
            }),
            None => {
                kv::Entity::delete_many()
                    .filter(kv::Column::VigyId.eq(vigy_id))
                    .filter(kv::Column::Key.eq(key))
                    .exec(db)
                    .await?;
            }
        }
    }
    let on_conflict = OnConflict::columns([kv::Column::VigyId, kv::Column::Key])
        .update_columns([kv::Column::Value, kv::Column::UpdatedAt])
        .to_owned();
    for chunk in upserts.chunks(CHUNK) {
        kv::Entity::insert_many(chunk.to_vec()).on_conflict(on_conflict.clone()).exec_without_returning(db).await?;
    }
    Ok(())
}

async fn write_state(db: &impl ConnectionTrait, ticks: &[TickRecord]) -> Result<(), StoreError> {
    // The newest report of each vigy in the batch wins.
    let mut newest: BTreeMap<VigyId, &TickRecord> = BTreeMap::new();
    for tick in ticks.iter().filter(|t| t.reported.is_some()) {
        newest.insert(tick.run.vigy_id, tick);
    }
    let rows: Vec<_> = newest
        .into_values()
        .map(|t| {
            let (desired, observed) = t.reported.clone().unwrap_or_default();
            state::ActiveModel {
                vigy_id: ActiveValue::Set(t.run.vigy_id.to_string()),
                desired: ActiveValue::Set(Json::Object(desired).to_string()),
                observed: ActiveValue::Set(Json::Object(observed).to_string()),
                reported_at: ActiveValue::Set(format_timestamp(&t.run.started_at)),
            }
        })
        .collect();
    let on_conflict = OnConflict::column(state::Column::VigyId)
        .update_columns([state::Column::Desired, state::Column::Observed, state::Column::ReportedAt])
        .to_owned();
    for chunk in rows.chunks(CHUNK) {
        state::Entity::insert_many(chunk.to_vec()).on_conflict(on_conflict.clone()).exec_without_returning(db).await?;
    }
    Ok(())
}
