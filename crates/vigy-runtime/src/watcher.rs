//! Follows the store's lifecycle change feed, so a vigy registered,
//! changed or deleted by another process (the CLI, another app) is picked
//! up here within one poll.

use std::time::Duration;

use tokio::sync::mpsc;
use vigy_store::Store;

use crate::scheduler::{Command, FirstTick};

/// How often the feed is read.
pub(crate) const POLL: Duration = Duration::from_millis(250);

pub(crate) async fn follow(store: Store, mut cursor: i64, commands: mpsc::UnboundedSender<Command>) {
    let mut ticker = tokio::time::interval(POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        if commands.is_closed() {
            return;
        }
        let events = match store.events_after(cursor).await {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, "could not read the change feed");
                continue;
            }
        };
        for event in events {
            cursor = event.id;
            if let Err(error) = apply(&store, &commands, event.vigy_id).await {
                tracing::warn!(%error, vigy = %event.vigy_id, "could not apply a change");
            }
        }
    }
}

/// Re-read the vigy and hand the scheduler what is stored now; replaying
/// a change this process made itself is a no-op there.
async fn apply(
    store: &Store,
    commands: &mpsc::UnboundedSender<Command>,
    id: vigy_types::VigyId,
) -> Result<(), vigy_store::StoreError> {
    let command = match store.get(id).await? {
        None => Command::Remove(id),
        Some(vigy) => {
            let (kv, tick_count) = crate::handle::carried_state(store, id).await?;
            Command::Upsert { vigy, kv, tick_count, first: FirstTick::Now }
        }
    };
    let _ = commands.send(command);
    Ok(())
}
