//! Follows the store's lifecycle change feed, so a vigy registered,
//! changed or deleted by another process (the CLI, another app) is picked
//! up here within one poll: in the catalog, and by the scheduler.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use vigy_store::{Store, StoreError};
use vigy_types::VigyId;

use crate::catalog::Catalog;
use crate::scheduler::{Command, FirstTick};

/// How often the feed is read.
pub(crate) const POLL: Duration = Duration::from_millis(250);

/// What a followed change is applied to.
pub(crate) struct Follower {
    pub(crate) store: Store,
    pub(crate) catalog: Arc<Catalog>,
    /// Also the runtime's liveness: following stops once it is closed.
    pub(crate) commands: mpsc::UnboundedSender<Command>,
}

impl Follower {
    /// Apply every change after `cursor`, until the runtime stops. The
    /// scheduler hears of them only if the runtime `schedules` at all.
    ///
    /// A vigy whose change could not be applied (the store failed, or its
    /// row does not read back) is tried again at every poll until it is:
    /// the feed moves on meanwhile, so one bad row holds up no other vigy.
    pub(crate) async fn follow(self, mut cursor: i64, schedules: bool) {
        let mut ticker = tokio::time::interval(POLL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut failed: BTreeSet<VigyId> = BTreeSet::new();
        loop {
            ticker.tick().await;
            if self.commands.is_closed() {
                return;
            }
            for id in std::mem::take(&mut failed) {
                if let Err(error) = self.apply(id, schedules).await {
                    tracing::debug!(%error, vigy = %id, "still could not apply a change");
                    failed.insert(id);
                }
            }
            let events = match self.store.events_after(cursor).await {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(%error, "could not read the change feed");
                    continue;
                }
            };
            for event in events {
                cursor = event.id;
                if let Err(error) = self.apply(event.vigy_id, schedules).await
                    && failed.insert(event.vigy_id)
                {
                    tracing::warn!(%error, vigy = %event.vigy_id, "could not apply a change; retrying every poll");
                }
            }
        }
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
            let (kv, tick_count) = crate::handle::carried_state(&self.store, id).await?;
            let _ = self.commands.send(Command::Upsert { vigy, kv, tick_count, first: FirstTick::Now });
        }
        Ok(())
    }
}
