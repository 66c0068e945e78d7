//! Follows the store's lifecycle change feed, so a vigy registered,
//! changed or deleted by another process (the CLI, another app) is picked
//! up here within one poll: in the catalog, by the scheduler, and by the
//! elector (which may now claim or must give up its lease). It also takes
//! the forced ticks other processes ask of the vigies leased here.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};
use vigy_store::{Store, StoreError, TickRequest};
use vigy_types::VigyId;

use crate::RuntimeError;
use crate::catalog::Catalog;
use crate::scheduler::Command;

/// How often the feed is read on SQLite.
pub(crate) const POLL: Duration = Duration::from_millis(250);
/// How often it is read on PostgreSQL, where a notification wakes the
/// follower at every change: only to catch what a dropped listener missed.
const POLL_LISTENING: Duration = Duration::from_secs(5);

/// What a followed change is applied to.
pub(crate) struct Follower {
    pub(crate) store: Store,
    pub(crate) catalog: Arc<Catalog>,
    /// Also the runtime's liveness: following stops once it is closed.
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    /// Wakes the elector.
    pub(crate) nudge: Arc<Notify>,
    /// This runtime's id: whose leases' tick requests it takes.
    pub(crate) owner: String,
}

impl Follower {
    /// Apply every change after `cursor`, until the runtime stops. The
    /// scheduler and elector hear of them only if the runtime `schedules`.
    ///
    /// A vigy whose change could not be applied (the store failed, or its
    /// row does not read back) is tried again at every poll until it is:
    /// the feed moves on meanwhile, so one bad row holds up no other vigy.
    pub(crate) async fn follow(self, mut cursor: i64, schedules: bool) {
        let mut changes = match self.store.listen().await {
            Ok(changes) => changes,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for changes; polling the feed instead");
                None
            }
        };
        let mut ticker = tokio::time::interval(if changes.is_some() { POLL_LISTENING } else { POLL });
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut failed: BTreeSet<VigyId> = BTreeSet::new();
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                woken = next_change(changes.as_mut()) => if let Err(error) = woken {
                    tracing::warn!(%error, "lost the change listener; it reconnects at the next wait");
                    tokio::time::sleep(POLL).await;
                },
            }
            if self.commands.is_closed() {
                return;
            }
            for id in std::mem::take(&mut failed) {
                if let Err(error) = self.apply(id, schedules).await {
                    tracing::debug!(%error, vigy = %id, "still could not apply a change");
                    failed.insert(id);
                }
            }
            if let Err(error) = self.catch_up_if_collected(cursor, schedules).await {
                tracing::warn!(%error, "could not catch up with the change feed");
                continue;
            }
            let events = match self.store.events_after(cursor).await {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(%error, "could not read the change feed");
                    continue;
                }
            };
            let mut leases_changed = false;
            for event in events {
                cursor = event.id;
                let Some(id) = event.vigy_id else {
                    leases_changed = true;
                    continue;
                };
                if event.kind == "tick-requested" {
                    continue;
                }
                leases_changed = true;
                if let Err(error) = self.apply(id, schedules).await
                    && failed.insert(id)
                {
                    tracing::warn!(%error, vigy = %id, "could not apply a change; retrying every poll");
                }
            }
            if schedules {
                if leases_changed {
                    self.nudge.notify_one();
                }
                // Every poll, not only on a `tick-requested` event: a request
                // made before this runtime held the lease is taken too.
                if let Err(error) = self.take_tick_requests().await {
                    tracing::warn!(%error, "could not take forced-tick requests");
                }
            }
        }
    }

    /// Events after `cursor` were garbage-collected while this follower was
    /// behind (a paused process): re-read every vigy, stored or known here,
    /// so none of the changes they named is missed.
    async fn catch_up_if_collected(&self, cursor: i64, schedules: bool) -> Result<(), StoreError> {
        let first = self.store.first_event_id().await?;
        if first <= cursor + 1 {
            return Ok(());
        }
        tracing::warn!(
            cursor,
            first,
            "change-feed events were collected while this runtime was behind; re-reading every vigy"
        );
        let mut ids: BTreeSet<VigyId> = self.store.list_readable().await?.0.into_iter().map(|v| v.id).collect();
        ids.extend(self.catalog.list(&vigy_types::LabelSelector::everything()).iter().map(|e| e.vigy.id));
        for id in ids {
            self.apply(id, schedules).await?;
        }
        self.nudge.notify_one();
        Ok(())
    }

    /// Re-read the vigy and record what is stored now; replaying a change
    /// this process made itself changes nothing.
    async fn apply(&self, id: VigyId, schedules: bool) -> Result<(), StoreError> {
        let _writing = self.catalog.write_lock().await;
        let Some(vigy) = self.store.get(id).await? else {
            self.catalog.remove(id);
            // Even where nothing is scheduled: a forced tick may be running,
            // and its per-vigy metrics go there.
            let _ = self.commands.send(Command::Remove(id));
            return Ok(());
        };
        self.catalog.put(vigy.clone());
        if schedules {
            let _ = self.commands.send(Command::Upsert { vigy });
        }
        Ok(())
    }

    /// Carry out the forced ticks asked of vigies leased here; a request
    /// this runtime cannot run after all (the lease just moved) is handed
    /// back for the next owner.
    async fn take_tick_requests(&self) -> Result<(), StoreError> {
        if !self.store.open_tick_requests().await? {
            return Ok(());
        }
        for TickRequest { id: request, vigy_id, .. } in self.store.claim_tick_requests(&self.owner).await? {
            let (reply, run) = oneshot::channel();
            let command = Command::TickNow { id: vigy_id, one_off: None, request: Some(request.clone()), reply };
            if self.commands.send(command).is_err() {
                return Ok(());
            }
            let store = self.store.clone();
            tokio::spawn(async move {
                let outcome = match run.await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(RuntimeError::NotFound(_))) => {
                        store.fail_tick_request(&request, "the vigy was deleted").await
                    }
                    // Moved, or shutting down: the next owner takes it.
                    Ok(Err(_)) | Err(_) => store.unclaim_tick_request(&request).await,
                };
                if let Err(error) = outcome {
                    tracing::warn!(%error, vigy = %vigy_id, "could not settle a forced-tick request");
                }
            });
        }
        Ok(())
    }
}

/// The next change notification, or never without a listener.
async fn next_change(changes: Option<&mut vigy_store::Changes>) -> Result<(), StoreError> {
    match changes {
        Some(changes) => changes.next().await,
        None => std::future::pending().await,
    }
}
