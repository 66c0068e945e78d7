//! The outbox and the conditions: what a tick decided that still has to be
//! done, and what each vigy says about itself.
//!
//! A run's `actions` column is the record of its actions and their results.
//! `vigy_outbox` indexes the ones still `pending` (one row each), so the
//! runtime that takes a vigy over finds its unfinished work in one query;
//! a row goes in the transaction that commits the run and out in the one
//! that records the action's final result. `vigy_conditions` holds one row
//! per condition of each vigy, so operators can query them directly
//! (`SELECT vigy_id FROM vigy_conditions WHERE type = 'Ready' AND status = 'false'`).

use std::collections::HashMap;
use std::str::FromStr;

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryResult, Statement, Value};
use vigy_types::{ActionResult, Condition, ReconcileAction, VigyId, VigyRun, format_timestamp, parse_timestamp};

use crate::convert::run_from_row;
use crate::entity::{kv, run};
use crate::lease::placeholders;
use crate::store::{CHUNK, Store, StoreError, TickRecord};

/// Past this many vigies, a load reads whole tables instead of `IN` lists.
const LIST_LIMIT: usize = 64;

/// What a vigy carries into a new tenure, as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Carried {
    /// Its key/value store.
    pub kv: std::collections::BTreeMap<String, serde_json::Value>,
    /// Its newest run: the tick count, and the actions the next tick reads
    /// with `vigy-last-results`.
    pub newest: Option<VigyRun>,
    /// Its conditions, by type.
    pub conditions: Vec<Condition>,
    /// Its runs with actions still `pending`, oldest first: work the last
    /// owner committed but did not finish.
    pub unfinished: Vec<VigyRun>,
}

/// The actions of one run as they stand after an attempt.
#[derive(Debug, Clone)]
pub struct ActionUpdate {
    /// The vigy.
    pub vigy_id: VigyId,
    /// The lease token the actions are carried out under.
    pub token: u64,
    /// The run.
    pub run_id: String,
    /// Every action of the run, with the results so far.
    pub actions: Vec<ReconcileAction>,
}

impl Store {
    /// Record what became of actions, for runtime `owner`, in one
    /// transaction: each run's `actions`, and its outbox rows out for every
    /// action now final. An update whose lease `owner` no longer holds with
    /// its token is refused (its index returned), as a tick is.
    pub async fn record_actions(&self, updates: &[ActionUpdate], owner: &str) -> Result<Vec<usize>, StoreError> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let txn = self.begin_write().await?;
        let mut ids: Vec<VigyId> = updates.iter().map(|u| u.vigy_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let tokens = crate::lease::live_tokens(&txn, owner, &ids).await?;
        let backend = txn.get_database_backend();
        let mut fenced = Vec::new();
        for (index, update) in updates.iter().enumerate() {
            if tokens.get(&update.vigy_id) != Some(&update.token) {
                fenced.push(index);
                continue;
            }
            let actions = serde_json::to_string(&update.actions).expect("actions serialize");
            txn.execute_raw(Statement::from_sql_and_values(
                backend,
                "UPDATE vigy_runs SET actions = $1 WHERE id = $2",
                [actions.into(), update.run_id.clone().into()],
            ))
            .await?;
            let done: Vec<Value> = (0..update.actions.len())
                .filter(|i| update.actions[*i].result.is_final())
                .map(|i| Value::from(i as i64))
                .collect();
            if !done.is_empty() {
                let sql =
                    format!("DELETE FROM vigy_outbox WHERE run_id = $1 AND idx IN {}", placeholders(2, done.len()));
                let mut values = vec![Value::from(update.run_id.clone())];
                values.extend(done);
                txn.execute_raw(Statement::from_sql_and_values(backend, &sql, values)).await?;
            }
        }
        txn.commit().await?;
        Ok(fenced)
    }

    /// What each of `ids` carries into a new tenure (see [`Carried`]), in
    /// four queries whatever their number.
    pub async fn carried(&self, ids: &[VigyId]) -> Result<HashMap<VigyId, Carried>, StoreError> {
        let mut carried: HashMap<VigyId, Carried> = ids.iter().map(|id| (*id, Carried::default())).collect();
        let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let few = ids.len() <= LIST_LIMIT;

        let mut kv_rows = kv::Entity::find();
        if few {
            kv_rows = kv_rows.filter(kv::Column::VigyId.is_in(keys.clone()));
        }
        for row in kv_rows.all(&self.reader).await? {
            let Some(entry) = VigyId::from_str(&row.vigy_id).ok().and_then(|id| carried.get_mut(&id)) else { continue };
            let value = serde_json::from_str(&row.value).map_err(|e| StoreError::Corrupt {
                table: "vigy_kv",
                id: format!("{}/{}", row.vigy_id, row.key),
                reason: e.to_string(),
            })?;
            entry.kv.insert(row.key, value);
        }

        let filter = if few { format!("WHERE vigy_id IN {}", placeholders(1, keys.len())) } else { String::new() };
        let values = || if few { keys.iter().cloned().map(Value::from).collect() } else { Vec::new() };
        let newest =
            format!("SELECT * FROM vigy_runs WHERE seq IN (SELECT MAX(seq) FROM vigy_runs {filter} GROUP BY vigy_id)");
        for run in self.runs_where(&newest, values()).await? {
            if let Some(entry) = carried.get_mut(&run.vigy_id) {
                entry.newest = Some(run);
            }
        }
        let unfinished =
            format!("SELECT * FROM vigy_runs WHERE id IN (SELECT run_id FROM vigy_outbox {filter}) ORDER BY seq");
        for run in self.runs_where(&unfinished, values()).await? {
            if let Some(entry) = carried.get_mut(&run.vigy_id) {
                entry.unfinished.push(run);
            }
        }
        for (id, conditions) in self.conditions_where(&filter, values()).await? {
            if let Some(entry) = carried.get_mut(&id) {
                entry.conditions = conditions;
            }
        }
        Ok(carried)
    }

    /// The conditions of every vigy that has any, by vigy.
    pub async fn all_conditions(&self) -> Result<HashMap<VigyId, Vec<Condition>>, StoreError> {
        self.conditions_where("", Vec::new()).await
    }

    /// The conditions of `id`, by type.
    pub async fn conditions(&self, id: VigyId) -> Result<Vec<Condition>, StoreError> {
        let mut all = self.conditions_where("WHERE vigy_id = $1", vec![id.to_string().into()]).await?;
        Ok(all.remove(&id).unwrap_or_default())
    }

    /// How many actions wait in the outbox, across every vigy.
    pub async fn outbox_depth(&self) -> Result<i64, StoreError> {
        self.scalar("SELECT COUNT(*) AS n FROM vigy_outbox").await
    }

    async fn runs_where(&self, sql: &str, values: Vec<Value>) -> Result<Vec<VigyRun>, StoreError> {
        let stmt = Statement::from_sql_and_values(self.reader.get_database_backend(), sql, values);
        let rows = run::Entity::find().from_raw_sql(stmt).all(&self.reader).await?;
        rows.into_iter().map(run_from_row).collect()
    }

    pub(crate) async fn conditions_where(
        &self,
        filter: &str,
        values: Vec<Value>,
    ) -> Result<HashMap<VigyId, Vec<Condition>>, StoreError> {
        let sql = format!(
            "SELECT vigy_id, type, status, reason, message, last_transition_time FROM vigy_conditions {filter} \
             ORDER BY vigy_id, type"
        );
        let stmt = Statement::from_sql_and_values(self.reader.get_database_backend(), &sql, values);
        let mut by_vigy: HashMap<VigyId, Vec<Condition>> = HashMap::new();
        for row in self.reader.query_all_raw(stmt).await? {
            let (id, condition) = condition_from_row(&row)?;
            by_vigy.entry(id).or_default().push(condition);
        }
        Ok(by_vigy)
    }
}

fn condition_from_row(row: &QueryResult) -> Result<(VigyId, Condition), StoreError> {
    const T: &str = "vigy_conditions";
    let vigy_id: String = row.try_get("", "vigy_id")?;
    let kind: String = row.try_get("", "type")?;
    let key = || format!("{vigy_id}/{kind}");
    let corrupt = |reason: String| StoreError::Corrupt { table: T, id: key(), reason };
    let id = VigyId::from_str(&vigy_id).map_err(|e| corrupt(e.to_string()))?;
    let status: String = row.try_get("", "status")?;
    let time: String = row.try_get("", "last_transition_time")?;
    let condition = Condition {
        status: status.parse().map_err(|e: vigy_types::VigyError| corrupt(e.to_string()))?,
        reason: row.try_get("", "reason")?,
        message: row.try_get("", "message")?,
        last_transition_time: parse_timestamp(&time).map_err(|e| corrupt(e.to_string()))?,
        kind,
    };
    Ok((id, condition))
}

/// In a tick batch's transaction: an outbox row for every action committed
/// `pending`.
pub(crate) async fn insert_pending(db: &impl ConnectionTrait, ticks: &[TickRecord]) -> Result<(), DbErr> {
    let rows: Vec<(String, i64, String)> = ticks
        .iter()
        .flat_map(|t| {
            t.run
                .actions
                .iter()
                .enumerate()
                .filter(|(_, a)| a.result == ActionResult::Pending)
                .map(|(i, _)| (t.run.id.clone(), i as i64, t.run.vigy_id.to_string()))
        })
        .collect();
    for chunk in rows.chunks(CHUNK / 3) {
        let list: Vec<String> =
            (0..chunk.len()).map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3)).collect();
        let sql = format!("INSERT INTO vigy_outbox (run_id, idx, vigy_id) VALUES {}", list.join(", "));
        let values: Vec<Value> = chunk
            .iter()
            .flat_map(|(run, idx, vigy)| [Value::from(run.clone()), Value::from(*idx), Value::from(vigy.clone())])
            .collect();
        db.execute_raw(Statement::from_sql_and_values(db.get_database_backend(), &sql, values)).await?;
    }
    Ok(())
}

/// In a tick batch's transaction: the conditions of each vigy whose tick
/// changed them, replaced by the newest set in the batch.
pub(crate) async fn write_conditions(db: &impl ConnectionTrait, ticks: &[TickRecord]) -> Result<(), DbErr> {
    let mut newest: HashMap<VigyId, &[Condition]> = HashMap::new();
    for tick in ticks {
        if let Some(conditions) = &tick.conditions {
            newest.insert(tick.run.vigy_id, conditions);
        }
    }
    let backend = db.get_database_backend();
    for (id, conditions) in newest {
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            "DELETE FROM vigy_conditions WHERE vigy_id = $1",
            [id.to_string().into()],
        ))
        .await?;
        for c in conditions {
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                "INSERT INTO vigy_conditions (vigy_id, type, status, reason, message, last_transition_time) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                [
                    id.to_string().into(),
                    c.kind.clone().into(),
                    c.status.as_str().into(),
                    c.reason.clone().into(),
                    c.message.clone().into(),
                    format_timestamp(&c.last_transition_time).into(),
                ],
            ))
            .await?;
        }
    }
    Ok(())
}

/// The schema of the outbox and the conditions (see `migration.rs`).
pub(crate) const SCHEMA: &str = r#"
-- One row per action committed `pending` and not yet final; its record
-- (result, attempts, times) is in its run's `actions`.
CREATE TABLE IF NOT EXISTS vigy_outbox (
    run_id  TEXT    NOT NULL,
    idx     INTEGER NOT NULL,
    vigy_id TEXT    NOT NULL,
    PRIMARY KEY (run_id, idx)
);
CREATE INDEX IF NOT EXISTS vigy_outbox_by_vigy ON vigy_outbox (vigy_id);
-- What each vigy's program says about it with vigy-condition.
CREATE TABLE IF NOT EXISTS vigy_conditions (
    vigy_id              TEXT NOT NULL,
    type                 TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('true', 'false', 'unknown')),
    reason               TEXT,
    message              TEXT,
    last_transition_time TEXT NOT NULL,
    PRIMARY KEY (vigy_id, type)
);
"#;
