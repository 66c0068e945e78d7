//! The elector: decides, with the other runtimes on the database, which
//! vigies this runtime ticks, and tells the scheduler.
//!
//! # Rules
//!
//! - **A vigy is scheduled here only under a lease held here**, loaded from
//!   the store when the lease is claimed (never from what this runtime held
//!   in an earlier tenure), and dropped the moment the lease is lost. The
//!   store fences every tick write by the lease's token (`vigy-store`'s
//!   `lease.rs`), so a tick that outlived its lease is never recorded.
//! - **Rounds.** Every `renew` (default 2.5 s: a sixth of the TTL, so five
//!   rounds can fail before a lease lapses) one transaction renews, claims
//!   and releases; a change on the feed (a vigy registered, enabled, a peer
//!   releasing leases) runs a round at once, and a round is also run as
//!   soon as another runtime's lease on a candidate expires, so a runtime
//!   killed hard is replaced within its TTL.
//! - **Defaults, and why.** TTL 15 s, as controller-runtime's leader
//!   election: short enough that a crashed host's vigies move within
//!   seconds, long enough that a GC pause, a slow disk or a busy SQLite
//!   write lock (10 s busy timeout) does not make healthy runtimes lose
//!   theirs. A clean stop releases at once, so a restart or rolling deploy
//!   moves vigies within one feed poll (250 ms) plus a round.
//! - **Preference by rendezvous hash** of (runtime, vigy): runtimes that
//!   claim at the same moment prefer different vigies, and a runtime above
//!   its share gives up those it likes least.
//! - **Shutting down keeps them until they are given back.** Once the
//!   runtime is closing, rounds only renew (no claim, no release) until
//!   its last ticks are committed and it leaves, so a drain longer than the
//!   TTL does not fence its own final commits.
//! - **Losing the store loses the leases.** When rounds keep failing past
//!   the TTL, every lease is treated as lost (the store would fence the
//!   ticks anyway), and claimed again once rounds succeed.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use vigy_store::{LeaseRequest, RuntimeInfo, Store};
use vigy_types::{LabelSelector, VigyId};

use crate::Scope;
use crate::catalog::Catalog;
use crate::metrics::Metrics;
use crate::scheduler::{Command, FirstTick};

/// How long leases last and how often they are renewed.
#[derive(Debug, Clone, Copy)]
pub struct LeaseTiming {
    /// How long a lease lasts without renewal (default 15 s).
    pub ttl: Duration,
    /// How often leases are renewed and claimed (default a sixth of the TTL).
    pub renew: Duration,
}

impl LeaseTiming {
    /// `ttl`, renewed every sixth of it.
    pub fn with_ttl(ttl: Duration) -> Self {
        let ttl = ttl.max(Duration::from_millis(300));
        Self { ttl, renew: ttl / 6 }
    }
}

impl Default for LeaseTiming {
    fn default() -> Self {
        Self::with_ttl(Duration::from_secs(15))
    }
}

/// Vigies ticked once under a lease of their own (a forced tick nobody
/// else holds): the elector neither claims nor releases them meanwhile,
/// and forced ticks of one vigy take turns, so one giving the lease back
/// never fences the next.
#[derive(Debug, Default, Clone)]
pub(crate) struct OneOffs(Arc<Mutex<HashMap<VigyId, Arc<tokio::sync::Mutex<()>>>>>);

/// A vigy's turn for a one-off tick; the next waiting caller's when dropped.
pub(crate) struct OneOffTurn {
    id: VigyId,
    turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    all: OneOffs,
}

impl OneOffs {
    /// The vigies with a one-off tick going on or waiting.
    pub(crate) fn ids(&self) -> HashSet<VigyId> {
        self.lock().keys().copied().collect()
    }

    pub(crate) fn contains(&self, id: VigyId) -> bool {
        self.lock().contains_key(&id)
    }

    /// Wait for `id`'s turn.
    pub(crate) async fn enter(&self, id: VigyId) -> OneOffTurn {
        let slot = self.lock().entry(id).or_default().clone();
        OneOffTurn { id, turn: Some(slot.lock_owned().await), all: self.clone() }
    }

    // Nothing panics while holding it: a poisoned lock is still sound.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<VigyId, Arc<tokio::sync::Mutex<()>>>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for OneOffTurn {
    fn drop(&mut self) {
        let mut all = self.all.lock();
        self.turn = None;
        // Only the map holds it now: nobody waits.
        if all.get(&self.id).is_some_and(|slot| Arc::strong_count(slot) == 1) {
            all.remove(&self.id);
        }
    }
}

pub(crate) struct Elector {
    pub(crate) store: Store,
    pub(crate) me: RuntimeInfo,
    pub(crate) timing: LeaseTiming,
    pub(crate) scope: Scope,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) nudge: Arc<Notify>,
    /// Callers waiting for a round to have run and its gains to be handed
    /// to the scheduler (`RuntimeHandle::run_due`).
    pub(crate) asked: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    pub(crate) one_offs: OneOffs,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) closing: CancellationToken,
    /// Cancelled once the runtime has committed everything and left.
    pub(crate) closed: CancellationToken,
}

impl Elector {
    pub(crate) async fn run(mut self) {
        let mut held: HashMap<VigyId, u64> = HashMap::new();
        let mut last_renewed = Instant::now();
        let mut next_round = Instant::now();
        let mut asking: Vec<oneshot::Sender<()>> = Vec::new();
        loop {
            // Answered once the round before this wait has handed its gains on.
            for reply in asking.drain(..) {
                let _ = reply.send(());
            }
            tokio::select! {
                () = tokio::time::sleep_until(next_round.into()) => {}
                () = self.nudge.notified() => {}
                Some(reply) = self.asked.recv() => asking.push(reply),
                () = self.closing.cancelled() => return self.renew_until_closed().await,
            }
            next_round = Instant::now() + self.timing.renew;
            let untouched = self.one_offs.ids();
            let candidates = self.candidates();
            let request =
                LeaseRequest { me: &self.me, ttl: self.timing.ttl, candidates: &candidates, untouched: &untouched };
            let started = Instant::now();
            let round = match self.store.lease_round(&request).await {
                Ok(round) => round,
                Err(error) => {
                    tracing::warn!(%error, "lease round failed");
                    if last_renewed.elapsed() >= self.timing.ttl && !held.is_empty() {
                        tracing::error!(
                            leases = held.len(),
                            "leases lapsed while the store failed; ticking stops until they are claimed again"
                        );
                        self.metrics.leases_lost.fetch_add(held.len() as u64, Relaxed);
                        self.lose(held.drain().map(|(id, _)| id).collect());
                    }
                    next_round = Instant::now() + self.timing.renew.min(Duration::from_millis(500));
                    continue;
                }
            };
            last_renewed = started;
            self.metrics.lease_rounds.fetch_add(1, Relaxed);
            let mut now_held = round.held;
            now_held.retain(|id, _| !untouched.contains(id));
            let lost: Vec<VigyId> =
                held.iter().filter(|(id, token)| now_held.get(id) != Some(token)).map(|(id, _)| *id).collect();
            let taken_over: HashMap<VigyId, String> =
                round.claimed.into_iter().filter_map(|(id, previous)| Some((id, previous?))).collect();
            let gained: Vec<(VigyId, u64)> =
                now_held.iter().filter(|(id, token)| held.get(id) != Some(token)).map(|(id, t)| (*id, *t)).collect();
            let involuntary = lost.iter().filter(|id| !round.released.contains(id)).count();
            self.metrics.leases_lost.fetch_add(involuntary as u64, Relaxed);
            if involuntary > 0 {
                tracing::warn!(leases = involuntary, "lost leases to expiry or another runtime");
            }
            self.lose(lost);
            for id in self.gain(&gained, &taken_over).await {
                // Not handed over: gained again next round.
                now_held.remove(&id);
            }
            held = now_held;
            self.metrics.leases_held.store(held.len() as u64, Relaxed);
            if let Some(expiry) = round.next_expiry_ms {
                // Another runtime's lease on a candidate: look again just
                // after it would lapse, in case it is not renewed.
                let wait = Duration::from_millis((expiry - round.now_ms).max(0) as u64 + 20);
                next_round = next_round.min(Instant::now() + wait);
            }
        }
    }

    /// While the runtime drains: renew, nothing else, until it has left.
    async fn renew_until_closed(&self) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.timing.renew) => {}
                () = self.closed.cancelled() => return,
            }
            if let Err(error) = self.store.renew(&self.me.id, self.timing.ttl).await {
                tracing::warn!(%error, "could not renew leases while shutting down");
            }
        }
    }

    /// Every vigy this runtime may tick, most preferred first.
    fn candidates(&self) -> Vec<VigyId> {
        let mut ranked: Vec<(u64, VigyId)> = self
            .catalog
            .list(&LabelSelector::everything())
            .iter()
            .filter(|entry| entry.vigy.runs() && self.scope.includes(&entry.vigy))
            .map(|entry| (preference(&self.me.id, entry.vigy.id), entry.vigy.id))
            .collect();
        ranked.sort_unstable();
        ranked.into_iter().map(|(_, id)| id).collect()
    }

    fn lose(&self, ids: Vec<VigyId>) {
        if !ids.is_empty() {
            let _ = self.commands.send(Command::Lost(ids));
        }
    }

    /// Load each newly leased vigy from the store and hand it to the
    /// scheduler with its token; returns those that could not be loaded.
    async fn gain(&self, gained: &[(VigyId, u64)], taken_over: &HashMap<VigyId, String>) -> Vec<VigyId> {
        if gained.is_empty() {
            return Vec::new();
        }
        self.metrics.leases_acquired.fetch_add(gained.len() as u64, Relaxed);
        if !taken_over.is_empty() {
            let mut from: Vec<&String> = taken_over.values().collect();
            from.sort();
            from.dedup();
            self.metrics.leases_taken_over.fetch_add(taken_over.len() as u64, Relaxed);
            tracing::info!(vigies = taken_over.len(), from = ?from, "took over vigies whose leases had expired");
        }
        // Every newly leased vigy's kv, newest run, conditions and
        // unfinished actions in four queries, however many there are.
        let ids: Vec<VigyId> = gained.iter().map(|(id, _)| *id).collect();
        let mut carried = match self.store.carried(&ids).await {
            Ok(carried) => carried,
            Err(error) => {
                tracing::warn!(%error, "could not load newly leased vigies; the next round tries again");
                return ids;
            }
        };
        let mut failed = Vec::new();
        for (id, token) in gained {
            let (Some(entry), Some(carried)) = (self.catalog.get(*id), carried.remove(id)) else {
                failed.push(*id);
                continue;
            };
            let first = carried.newest.as_ref().map_or(FirstTick::Now, |run| FirstTick::After(run.started_at));
            let vigy = entry.vigy.clone();
            let _ = self.commands.send(Command::Acquired { vigy, carried, token: *token, first });
        }
        failed
    }
}

/// Rendezvous hash of a runtime and a vigy: lower is preferred.
fn preference(runtime: &str, vigy: VigyId) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    runtime.hash(&mut hasher);
    vigy.hash(&mut hasher);
    hasher.finish()
}
