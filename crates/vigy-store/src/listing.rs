//! Reads that page and batch: a vigy's runs a page at a time, and the
//! newest runs, states and kv stores of many vigies in a fixed number of
//! queries (what a dashboard of a page of vigies asks for at once).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use futures::TryStreamExt;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement, Value};
use serde_json::Value as Json;
use vigy_types::{VigyId, VigyRun, VigyState};

use crate::convert::{run_from_row, state_from_rows};
use crate::entity::{kv, run, state};
use crate::lease::placeholders;
use crate::store::{MAX_LISTING_BYTES, row_bytes};
use crate::{Store, StoreError};

/// One page of a vigy's runs, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPage {
    /// At most the page size, fewer where [`MAX_LISTING_BYTES`] cut it.
    pub runs: Vec<VigyRun>,
    /// Whether older runs follow.
    pub more: bool,
}

impl Store {
    /// Up to `limit` runs of `id`, newest first, older than the run
    /// `after` (a run id of this vigy) when given. A run `after` that is no
    /// longer stored was trimmed by retention with everything older, so
    /// nothing follows it: the page is empty.
    pub async fn runs_page(&self, id: VigyId, after: Option<&str>, limit: u64) -> Result<RunPage, StoreError> {
        let mut query = run::Entity::find().filter(run::Column::VigyId.eq(id.to_string()));
        if let Some(after) = after {
            let from = run::Entity::find_by_id(after.to_owned())
                .filter(run::Column::VigyId.eq(id.to_string()))
                .one(&self.reader)
                .await?;
            let Some(from) = from else { return Ok(RunPage { runs: Vec::new(), more: false }) };
            query = query.filter(run::Column::Seq.lt(from.seq));
        }
        let mut rows =
            query.order_by_desc(run::Column::Seq).limit(limit.saturating_add(1)).stream(&self.reader).await?;
        let (mut runs, mut bytes, mut more) = (Vec::new(), 0, false);
        while let Some(row) = rows.try_next().await? {
            bytes += row_bytes(&row);
            if runs.len() as u64 == limit || (bytes > MAX_LISTING_BYTES && !runs.is_empty()) {
                more = true;
                break;
            }
            runs.push(run_from_row(row)?);
        }
        Ok(RunPage { runs, more })
    }

    /// The newest `limit` runs of each of `ids`, newest first, in one
    /// query; each vigy's listing is cut at [`MAX_LISTING_BYTES`] as
    /// [`Store::runs_page`] cuts it.
    pub async fn newest_runs(&self, ids: &[VigyId], limit: u64) -> Result<HashMap<VigyId, RunPage>, StoreError> {
        let mut pages: HashMap<VigyId, RunPage> =
            ids.iter().map(|id| (*id, RunPage { runs: Vec::new(), more: false })).collect();
        if ids.is_empty() {
            return Ok(pages);
        }
        let sql = format!(
            "SELECT * FROM (SELECT r.*, ROW_NUMBER() OVER (PARTITION BY vigy_id ORDER BY seq DESC) AS newness \
             FROM vigy_runs r WHERE vigy_id IN {}) ranked WHERE newness <= ${} ORDER BY vigy_id, seq DESC",
            placeholders(1, ids.len()),
            ids.len() + 1
        );
        let mut values: Vec<Value> = ids.iter().map(|id| id.to_string().into()).collect();
        values.push((limit.saturating_add(1).min(i64::MAX as u64) as i64).into());
        let stmt = Statement::from_sql_and_values(self.reader.get_database_backend(), &sql, values);
        let mut rows = run::Entity::find().from_raw_sql(stmt).stream(&self.reader).await?;
        let mut bytes: HashMap<VigyId, usize> = HashMap::new();
        while let Some(row) = rows.try_next().await? {
            let Some((id, page)) =
                VigyId::from_str(&row.vigy_id).ok().and_then(|id| pages.get_mut(&id).map(|p| (id, p)))
            else {
                continue;
            };
            let used = bytes.entry(id).or_default();
            *used += row_bytes(&row);
            if page.more {
                continue;
            }
            if page.runs.len() as u64 == limit || (*used > MAX_LISTING_BYTES && !page.runs.is_empty()) {
                page.more = true;
                continue;
            }
            page.runs.push(run_from_row(row)?);
        }
        Ok(pages)
    }

    /// What each of `ids` last reported (`None` before its first tick), in
    /// three queries whatever their number.
    pub async fn states(&self, ids: &[VigyId]) -> Result<HashMap<VigyId, Option<VigyState>>, StoreError> {
        let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let mut reports: HashMap<String, state::Model> = state::Entity::find()
            .filter(state::Column::VigyId.is_in(keys.clone()))
            .all(&self.reader)
            .await?
            .into_iter()
            .map(|row| (row.vigy_id.clone(), row))
            .collect();
        let mut newest = self.newest_runs(ids, 1).await?;
        let filter = format!("WHERE vigy_id IN {}", placeholders(1, keys.len()));
        let values = keys.iter().cloned().map(Value::from).collect();
        let mut conditions =
            if ids.is_empty() { HashMap::new() } else { self.conditions_where(&filter, values).await? };
        let mut states = HashMap::new();
        for (id, key) in ids.iter().zip(&keys) {
            let run = newest.remove(id).and_then(|page| page.runs.into_iter().next());
            let state = state_from_rows(*id, reports.remove(key), run, conditions.remove(id).unwrap_or_default())?;
            states.insert(*id, state);
        }
        Ok(states)
    }

    /// The kv store of each of `ids`, in one query.
    pub async fn kv_stores(&self, ids: &[VigyId]) -> Result<HashMap<VigyId, BTreeMap<String, Json>>, StoreError> {
        let mut stores: HashMap<VigyId, BTreeMap<String, Json>> = ids.iter().map(|id| (*id, BTreeMap::new())).collect();
        let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let rows = kv::Entity::find().filter(kv::Column::VigyId.is_in(keys)).all(&self.reader).await?;
        for row in rows {
            let Some(store) = VigyId::from_str(&row.vigy_id).ok().and_then(|id| stores.get_mut(&id)) else { continue };
            let value = serde_json::from_str(&row.value).map_err(|e| StoreError::Corrupt {
                table: "vigy_kv",
                id: format!("{}/{}", row.vigy_id, row.key),
                reason: e.to_string(),
            })?;
            store.insert(row.key, value);
        }
        Ok(stores)
    }
}
