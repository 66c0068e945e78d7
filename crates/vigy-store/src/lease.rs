//! Leases: which runtime may tick, and write for, each vigy.
//!
//! # Rules
//!
//! - **One holder, until a time.** A lease row names its owner and when it
//!   expires, on the database's clock (so runtimes on different hosts agree
//!   without trusting each other's clocks). Past `expires_ms` it is nobody's.
//! - **Every tenure has its own token**, drawn from one counter
//!   (`vigy_fence`) that only grows, so a token is never handed out twice,
//!   even when a vigy is deleted and registered again.
//! - **Writes are fenced.** [`Store::write_ticks`](crate::Store::write_ticks)
//!   keeps a tick only if, inside its own transaction, its runtime still
//!   holds the vigy's lease with the token the tick ran under.
//! - **Rounds, not statements per tick.** A runtime renews, claims and
//!   releases all its leases in one transaction per round
//!   ([`Store::lease_round`]); between rounds it writes no lease at all.
//! - **Fair shares without churn.** A round claims free vigies only up to
//!   `ceil(candidates / live peers)` and releases only what is above it, so
//!   shares settle and then stay put.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, QueryResult, Statement, Value};
use vigy_types::{Timestamp, VigyId, format_timestamp};

use crate::store::{CHUNK, record_event};
use crate::{Store, StoreError};

/// A runtime that schedules vigies, as its peers see it.
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    /// Unique per runtime instance (a new one at every open).
    pub id: String,
    /// Where it runs.
    pub host: String,
    /// Its process.
    pub pid: u32,
    /// Its scope, as text: fair shares are counted among runtimes of the
    /// same scope.
    pub scope: String,
    /// When it opened.
    pub started_at: Timestamp,
}

/// What one lease round asks for.
#[derive(Debug)]
pub struct LeaseRequest<'a> {
    /// Who asks.
    pub me: &'a RuntimeInfo,
    /// How long a claimed or renewed lease lasts.
    pub ttl: Duration,
    /// Every vigy the runtime may tick now (enabled, in its scope), most
    /// preferred first: it claims from the front and releases from the back.
    pub candidates: &'a [VigyId],
    /// Vigies this round must neither claim nor release (forced ticks under
    /// a lease of their own).
    pub untouched: &'a HashSet<VigyId>,
}

/// What a lease round did.
#[derive(Debug, Default)]
pub struct LeaseRound {
    /// Every lease the runtime holds after the round, with its token.
    pub held: HashMap<VigyId, u64>,
    /// Leases claimed this round, with the runtime whose lease had expired
    /// (a takeover), if there was one.
    pub claimed: Vec<(VigyId, Option<String>)>,
    /// Leases given up this round (no longer candidates, or above the share).
    pub released: Vec<VigyId>,
    /// Live runtimes of the same scope, this one included.
    pub peers: usize,
    /// When the first lease another runtime holds on a candidate expires,
    /// in ms on the database's clock (compare with `now_ms`): a takeover
    /// can be attempted right then, not a round later.
    pub next_expiry_ms: Option<i64>,
    /// The database's clock during the round.
    pub now_ms: i64,
}

/// A vigy's lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The vigy.
    pub vigy_id: VigyId,
    /// The runtime holding it.
    pub owner: String,
    /// The owner's host and process, when it is a known runtime.
    pub owner_host: Option<(String, u32)>,
    /// The tenure's fencing token.
    pub token: u64,
    /// Expiry, ms since the epoch on the database's clock.
    pub expires_ms: i64,
    /// Whether it had not expired when read.
    pub live: bool,
}

/// A forced tick asked of a vigy's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickRequest {
    /// Its id.
    pub id: String,
    /// The vigy to tick.
    pub vigy_id: VigyId,
    /// The runtime carrying it out, once one took it.
    pub claimed_by: Option<String>,
    /// The run it produced, once committed.
    pub run_id: Option<String>,
    /// Why it could not be carried out.
    pub error: Option<String>,
}

/// The database's clock, ms since the epoch.
fn now_sql(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS n",
        _ => "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) AS n",
    }
}

pub(crate) async fn db_now_ms(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let row = db.query_one_raw(Statement::from_string(backend, now_sql(backend))).await?;
    row.ok_or_else(|| DbErr::Custom("the clock read returned no row".into()))?.try_get("", "n")
}

/// `($first, $first+1, …)` for `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    let list: Vec<String> = (first..first + n).map(|i| format!("${i}")).collect();
    format!("({})", list.join(", "))
}

fn stmt(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

fn vigy_id(row: &QueryResult) -> Result<Option<VigyId>, DbErr> {
    let id: String = row.try_get("", "vigy_id")?;
    Ok(VigyId::from_str(&id).ok())
}

/// The live leases `owner` holds among `ids`, with their tokens; on
/// PostgreSQL the rows are locked for share until the transaction ends, so
/// no claim can take them before it commits (on SQLite the write lock the
/// transaction holds does the same).
pub(crate) async fn live_tokens(
    db: &impl ConnectionTrait,
    owner: &str,
    ids: &[VigyId],
) -> Result<HashMap<VigyId, u64>, DbErr> {
    let now = db_now_ms(db).await?;
    let lock = if db.get_database_backend() == DatabaseBackend::Postgres { " FOR SHARE" } else { "" };
    let mut tokens = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT vigy_id, token FROM vigy_leases WHERE owner = $1 AND expires_ms > $2 AND vigy_id IN {}{lock}",
            placeholders(3, chunk.len())
        );
        let mut values: Vec<Value> = vec![owner.into(), now.into()];
        values.extend(chunk.iter().map(|id| Value::from(id.to_string())));
        for row in db.query_all_raw(stmt(db, &sql, values)).await? {
            let token: i64 = row.try_get("", "token")?;
            if let Some(id) = vigy_id(&row)? {
                tokens.insert(id, token as u64);
            }
        }
    }
    Ok(tokens)
}

/// Take the next fencing token.
async fn next_token(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    db.execute_unprepared("UPDATE vigy_fence SET token = token + 1 WHERE id = 1").await?;
    let backend = db.get_database_backend();
    let row =
        db.query_one_raw(Statement::from_string(backend, "SELECT token AS n FROM vigy_fence WHERE id = 1")).await?;
    let token: i64 = row.ok_or_else(|| DbErr::Custom("vigy_fence has no row".into()))?.try_get("", "n")?;
    Ok(token as u64)
}

/// Claim `ids` for `owner` with `token` where nobody holds a live lease;
/// a live lease of someone else is left alone.
async fn claim(
    db: &impl ConnectionTrait,
    owner: &str,
    token: u64,
    now: i64,
    ttl: i64,
    ids: &[VigyId],
) -> Result<(), DbErr> {
    for chunk in ids.chunks(CHUNK) {
        let rows: Vec<String> = (0..chunk.len()).map(|i| format!("(${}, $1, $2, $3, $4)", i + 5)).collect();
        let sql = format!(
            "INSERT INTO vigy_leases (vigy_id, owner, token, acquired_ms, expires_ms) VALUES {} \
             ON CONFLICT (vigy_id) DO UPDATE SET owner = excluded.owner, token = excluded.token, \
             acquired_ms = excluded.acquired_ms, expires_ms = excluded.expires_ms \
             WHERE vigy_leases.expires_ms <= $3",
            rows.join(", ")
        );
        let mut values: Vec<Value> = vec![owner.into(), (token as i64).into(), now.into(), (now + ttl).into()];
        values.extend(chunk.iter().map(|id| Value::from(id.to_string())));
        db.execute_raw(stmt(db, &sql, values)).await?;
    }
    Ok(())
}

async fn release(db: &impl ConnectionTrait, owner: &str, ids: &[VigyId]) -> Result<(), DbErr> {
    for chunk in ids.chunks(CHUNK) {
        let sql = format!("DELETE FROM vigy_leases WHERE owner = $1 AND vigy_id IN {}", placeholders(2, chunk.len()));
        let mut values: Vec<Value> = vec![owner.into()];
        values.extend(chunk.iter().map(|id| Value::from(id.to_string())));
        db.execute_raw(stmt(db, &sql, values)).await?;
    }
    Ok(())
}

/// The real time, for what leases record: leases expire on the database's
/// clock, whatever clock the runtime schedules by (a manual or stepping
/// one in tests, whose readings belong to the API's answers).
fn wall_clock() -> Timestamp {
    chrono::Utc::now()
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

impl Store {
    /// One lease round (see the module's rules): heartbeat, renew what is
    /// still live, give up what is no longer a candidate or above the fair
    /// share, claim free candidates up to it. One transaction.
    pub async fn lease_round(&self, request: &LeaseRequest<'_>) -> Result<LeaseRound, StoreError> {
        let LeaseRequest { me, ttl, candidates, untouched } = *request;
        let ttl = millis(ttl);
        let txn = self.begin_write().await?;
        let now = db_now_ms(&txn).await?;
        heartbeat(&txn, me, now, ttl).await?;
        txn.execute_raw(stmt(
            &txn,
            "UPDATE vigy_leases SET expires_ms = $1 WHERE owner = $2 AND expires_ms > $3",
            vec![(now + ttl).into(), me.id.as_str().into(), now.into()],
        ))
        .await?;

        // Everything stored, once: who holds what, live or not.
        let mut held: HashSet<VigyId> = HashSet::new();
        let mut others: HashMap<VigyId, (String, i64)> = HashMap::new();
        let rows = txn.query_all_raw(stmt(&txn, "SELECT vigy_id, owner, expires_ms FROM vigy_leases", vec![])).await?;
        for row in rows {
            let Some(id) = vigy_id(&row)? else { continue };
            let owner: String = row.try_get("", "owner")?;
            let expires: i64 = row.try_get("", "expires_ms")?;
            if owner == me.id && expires > now {
                held.insert(id);
            } else {
                others.insert(id, (owner, expires));
            }
        }
        let peers = live_peers(&txn, &me.scope, now).await?.max(1);
        let share = candidates.len().div_ceil(peers);

        let wanted: HashSet<VigyId> = candidates.iter().copied().collect();
        let mut released: Vec<VigyId> =
            held.iter().filter(|id| !wanted.contains(id) && !untouched.contains(id)).copied().collect();
        let keeping: Vec<VigyId> = candidates.iter().filter(|id| held.contains(id)).copied().collect();
        let mut claimed = Vec::new();
        if keeping.len() > share {
            // Above the share: give up the least preferred.
            released.extend(keeping[share..].iter().filter(|id| !untouched.contains(id)));
        } else {
            let free = candidates
                .iter()
                .filter(|id| !held.contains(id) && !untouched.contains(id))
                .filter(|id| others.get(id).is_none_or(|(_, expires)| *expires <= now))
                .take(share - keeping.len());
            let free: Vec<VigyId> = free.copied().collect();
            if !free.is_empty() {
                let token = next_token(&txn).await?;
                claim(&txn, &me.id, token, now, ttl, &free).await?;
                claimed = free.into_iter().map(|id| (id, others.get(&id).map(|(owner, _)| owner.clone()))).collect();
            }
        }
        release(&txn, &me.id, &released).await?;
        if !released.is_empty() {
            record_event(&txn, None, "released", &wall_clock()).await?;
        }
        let mine: Vec<VigyId> = held.iter().chain(claimed.iter().map(|(id, _)| id)).copied().collect();
        let tokens = live_tokens(&txn, &me.id, &mine).await?;
        txn.commit().await?;

        // A claim another runtime beat us to (PostgreSQL) is not ours.
        claimed.retain(|(id, _)| tokens.contains_key(id));
        let next_expiry_ms = candidates
            .iter()
            .filter_map(|id| others.get(id))
            .map(|(_, expires)| *expires)
            .filter(|expires| *expires > now)
            .min();
        Ok(LeaseRound { held: tokens, claimed, released, peers, next_expiry_ms, now_ms: now })
    }

    /// Extend `owner`'s live leases by `ttl`, claiming and releasing
    /// nothing: how a runtime that is shutting down keeps them while its
    /// last ticks commit.
    pub async fn renew(&self, owner: &str, ttl: Duration) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let now = db_now_ms(&txn).await?;
        txn.execute_raw(stmt(
            &txn,
            "UPDATE vigy_leases SET expires_ms = $1 WHERE owner = $2 AND expires_ms > $3",
            vec![(now + millis(ttl)).into(), owner.into(), now.into()],
        ))
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Give up every lease `me` holds and leave the peers (a clean stop),
    /// so another runtime can take over at once.
    pub async fn leave(&self, me: &RuntimeInfo) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        txn.execute_raw(stmt(&txn, "DELETE FROM vigy_leases WHERE owner = $1", vec![me.id.as_str().into()])).await?;
        txn.execute_raw(stmt(&txn, "DELETE FROM vigy_runtimes WHERE id = $1", vec![me.id.as_str().into()])).await?;
        record_event(&txn, None, "released", &wall_clock()).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Claim `id` for one forced tick: its token, or `None` while any
    /// runtime (this one included) holds a live lease on it.
    pub async fn claim_one(&self, owner: &str, id: VigyId, ttl: Duration) -> Result<Option<u64>, StoreError> {
        let txn = self.begin_write().await?;
        let now = db_now_ms(&txn).await?;
        let held = txn
            .query_one_raw(stmt(
                &txn,
                "SELECT owner FROM vigy_leases WHERE vigy_id = $1 AND expires_ms > $2",
                vec![id.to_string().into(), now.into()],
            ))
            .await?;
        if held.is_some() {
            return Ok(None);
        }
        let token = next_token(&txn).await?;
        claim(&txn, owner, token, now, millis(ttl), &[id]).await?;
        let mine = live_tokens(&txn, owner, &[id]).await?.get(&id).copied().filter(|t| *t == token);
        txn.commit().await?;
        Ok(mine)
    }

    /// Give up `owner`'s leases of `ids`.
    pub async fn release(&self, owner: &str, ids: &[VigyId]) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        release(&txn, owner, ids).await?;
        record_event(&txn, None, "released", &wall_clock()).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The stored lease of `id`, live or expired.
    pub async fn lease(&self, id: VigyId) -> Result<Option<Lease>, StoreError> {
        Ok(self.leases_where("WHERE l.vigy_id = $1", vec![id.to_string().into()]).await?.pop())
    }

    /// The stored leases of `ids`, in one query.
    pub async fn leases_of(&self, ids: &[VigyId]) -> Result<Vec<Lease>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let filter = format!("WHERE l.vigy_id IN {}", placeholders(1, ids.len()));
        self.leases_where(&filter, ids.iter().map(|id| id.to_string().into()).collect()).await
    }

    /// Every stored lease.
    pub async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        self.leases_where("", vec![]).await
    }

    async fn leases_where(&self, filter: &str, values: Vec<Value>) -> Result<Vec<Lease>, StoreError> {
        let now = db_now_ms(&self.reader).await?;
        let sql = format!(
            "SELECT l.vigy_id, l.owner, l.token, l.expires_ms, r.host, r.pid FROM vigy_leases l \
             LEFT JOIN vigy_runtimes r ON r.id = l.owner {filter} ORDER BY l.vigy_id"
        );
        let mut leases = Vec::new();
        for row in self.reader.query_all_raw(stmt(&self.reader, &sql, values)).await? {
            let Some(vigy_id) = vigy_id(&row)? else { continue };
            let host: Option<String> = row.try_get("", "host")?;
            let pid: Option<i64> = row.try_get("", "pid")?;
            let expires_ms: i64 = row.try_get("", "expires_ms")?;
            let token: i64 = row.try_get("", "token")?;
            leases.push(Lease {
                vigy_id,
                owner: row.try_get("", "owner")?,
                owner_host: host.zip(pid.map(|p| p as u32)),
                token: token as u64,
                expires_ms,
                live: expires_ms > now,
            });
        }
        Ok(leases)
    }

    // ---- forced ticks asked of the owner --------------------------------

    /// Ask whichever runtime holds `id`'s lease for one tick; returns the
    /// request's id. The owner hears of it through the change feed.
    pub async fn request_tick(&self, id: VigyId) -> Result<String, StoreError> {
        let request = uuid::Uuid::now_v7().to_string();
        let txn = self.begin_write().await?;
        txn.execute_raw(stmt(
            &txn,
            "INSERT INTO vigy_tick_requests (id, vigy_id, requested_at) VALUES ($1, $2, $3)",
            vec![request.as_str().into(), id.to_string().into(), format_timestamp(&wall_clock()).into()],
        ))
        .await?;
        record_event(&txn, Some(id), "tick-requested", &wall_clock()).await?;
        txn.commit().await?;
        Ok(request)
    }

    /// Whether any forced-tick request waits for a taker (a read, so the
    /// owners can look often without taking the write lock).
    pub async fn open_tick_requests(&self) -> Result<bool, StoreError> {
        let sql =
            "SELECT id FROM vigy_tick_requests WHERE claimed_by IS NULL AND run_id IS NULL AND error IS NULL LIMIT 1";
        Ok(self.reader.query_one_raw(stmt(&self.reader, sql, vec![])).await?.is_some())
    }

    /// Take every open request for a vigy whose live lease `owner` holds.
    pub async fn claim_tick_requests(&self, owner: &str) -> Result<Vec<TickRequest>, StoreError> {
        let txn = self.begin_write().await?;
        let now = db_now_ms(&txn).await?;
        let open = "SELECT q.id, q.vigy_id FROM vigy_tick_requests q JOIN vigy_leases l ON l.vigy_id = q.vigy_id \
                    WHERE q.claimed_by IS NULL AND q.run_id IS NULL AND q.error IS NULL \
                    AND l.owner = $1 AND l.expires_ms > $2 ORDER BY q.id";
        let rows = txn.query_all_raw(stmt(&txn, open, vec![owner.into(), now.into()])).await?;
        let mut taken = Vec::new();
        for row in rows {
            let request: String = row.try_get("", "id")?;
            let Some(vigy_id) = vigy_id(&row)? else { continue };
            txn.execute_raw(stmt(
                &txn,
                "UPDATE vigy_tick_requests SET claimed_by = $1 WHERE id = $2 AND claimed_by IS NULL",
                vec![owner.into(), request.as_str().into()],
            ))
            .await?;
            taken.push(TickRequest {
                id: request,
                vigy_id,
                claimed_by: Some(owner.to_owned()),
                run_id: None,
                error: None,
            });
        }
        txn.commit().await?;
        Ok(taken)
    }

    /// Take request `id` for `me` if nobody who could still carry it out
    /// holds it: unclaimed, or claimed by a runtime that no longer holds the
    /// vigy's lease (it can then never commit its run). True if taken.
    pub async fn take_tick_request(&self, me: &str, id: &str) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let now = db_now_ms(&txn).await?;
        let sql = "UPDATE vigy_tick_requests SET claimed_by = $1 WHERE id = $2 AND run_id IS NULL AND error IS NULL \
                   AND (claimed_by IS NULL OR claimed_by = $1 OR claimed_by NOT IN \
                   (SELECT owner FROM vigy_leases WHERE vigy_id = vigy_tick_requests.vigy_id AND expires_ms > $3))";
        let taken = txn.execute_raw(stmt(&txn, sql, vec![me.into(), id.into(), now.into()])).await?.rows_affected() > 0;
        txn.commit().await?;
        Ok(taken)
    }

    /// Hand request `id` back (its taker could not run it after all).
    pub async fn unclaim_tick_request(&self, id: &str) -> Result<(), StoreError> {
        let sql = "UPDATE vigy_tick_requests SET claimed_by = NULL WHERE id = $1 AND run_id IS NULL";
        self.writer.execute_raw(stmt(&self.writer, sql, vec![id.into()])).await?;
        Ok(())
    }

    /// Close request `id` as impossible (its vigy is gone), with why.
    pub async fn fail_tick_request(&self, id: &str, error: &str) -> Result<(), StoreError> {
        let sql = "UPDATE vigy_tick_requests SET error = $1 WHERE id = $2 AND run_id IS NULL";
        self.writer.execute_raw(stmt(&self.writer, sql, vec![error.into(), id.into()])).await?;
        Ok(())
    }

    /// Request `id` as stored.
    pub async fn tick_request(&self, id: &str) -> Result<Option<TickRequest>, StoreError> {
        let sql = "SELECT id, vigy_id, claimed_by, run_id, error FROM vigy_tick_requests WHERE id = $1";
        let Some(row) = self.reader.query_one_raw(stmt(&self.reader, sql, vec![id.into()])).await? else {
            return Ok(None);
        };
        let Some(vigy_id) = vigy_id(&row)? else { return Ok(None) };
        Ok(Some(TickRequest {
            id: row.try_get("", "id")?,
            vigy_id,
            claimed_by: row.try_get("", "claimed_by")?,
            run_id: row.try_get("", "run_id")?,
            error: row.try_get("", "error")?,
        }))
    }

    /// Live runtimes of `scope` (heard from within their own lease TTL).
    pub async fn live_runtimes(&self, scope: &str) -> Result<usize, StoreError> {
        let now = db_now_ms(&self.reader).await?;
        Ok(live_peers(&self.reader, scope, now).await?)
    }
}

async fn heartbeat(db: &impl ConnectionTrait, me: &RuntimeInfo, now: i64, ttl: i64) -> Result<(), DbErr> {
    let sql = "INSERT INTO vigy_runtimes (id, host, pid, scope, started_at, heartbeat_ms, expires_ms) \
               VALUES ($1, $2, $3, $4, $5, $6, $7) \
               ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms, expires_ms = excluded.expires_ms";
    let values: Vec<Value> = vec![
        me.id.as_str().into(),
        me.host.as_str().into(),
        i64::from(me.pid).into(),
        me.scope.as_str().into(),
        format_timestamp(&me.started_at).into(),
        now.into(),
        (now + ttl).into(),
    ];
    db.execute_raw(stmt(db, sql, values)).await?;
    Ok(())
}

async fn live_peers(db: &impl ConnectionTrait, scope: &str, now: i64) -> Result<usize, DbErr> {
    let sql = "SELECT COUNT(*) AS n FROM vigy_runtimes WHERE scope = $1 AND expires_ms > $2";
    let row = db.query_one_raw(stmt(db, sql, vec![scope.into(), now.into()])).await?;
    let n: i64 = row.ok_or_else(|| DbErr::Custom("COUNT returned no row".into()))?.try_get("", "n")?;
    Ok(n.max(0) as usize)
}
