//! The runtime's in-memory read model of every stored vigy.
//!
//! Reads (`get`, `resolve`, `list`) are served from here instead of from
//! SQLite: a read through the store costs a query and re-validating each
//! row (its program is parsed again), hundreds of microseconds for a list,
//! while the catalog answers in about a microsecond per vigy.
//!
//! # Rules
//!
//! - **Both forms, converted once.** Each vigy is kept as the domain value
//!   the runtime works with and as the wire model every transport answers
//!   with, converted when it changes rather than on every read.
//! - **Loaded whole at open**, from the store.
//! - **Read your writes.** A lifecycle change made through this runtime is
//!   applied to the catalog before the call returns.
//! - **Other processes' changes within one poll.** The watcher re-reads
//!   every vigy named by the store's change feed and applies it here; a
//!   change it fails to apply is retried at every poll.
//! - **One writer at a time.** Every lifecycle write of this process holds
//!   [`Catalog::write_lock`] from the store write to the catalog update,
//!   and so does the watcher from its store read to its update, so within
//!   this process an older reading never replaces a newer one. Another
//!   process committing in the instant between our write and our update
//!   is shadowed until the watcher applies its change, one poll later.
//! - **Decisions read the store.** What must not act on a lagging view
//!   (`update`, `tick_now`) reads the vigy from the store itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use vigy_types::{LabelSelector, Vigy, VigyId, VigyName};

/// One vigy in both forms.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) vigy: Vigy,
    pub(crate) wire: vigy_api::Vigy,
}

#[derive(Debug, Default)]
struct Entries {
    by_id: HashMap<VigyId, Arc<Entry>>,
    /// The same vigies, ordered by name for listing.
    by_name: BTreeMap<VigyName, Arc<Entry>>,
}

/// Every stored vigy, as last written or seen.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    entries: RwLock<Entries>,
    writes: tokio::sync::Mutex<()>,
}

impl Catalog {
    /// A catalog holding `vigies`.
    pub(crate) fn new(vigies: Vec<Vigy>) -> Self {
        let catalog = Self::default();
        for vigy in vigies {
            catalog.put(vigy);
        }
        catalog
    }

    /// Held from a store write (or read, for the watcher) to the matching
    /// catalog update.
    pub(crate) async fn write_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writes.lock().await
    }

    /// The vigy with this id.
    pub(crate) fn get(&self, id: VigyId) -> Option<Arc<Entry>> {
        self.read().by_id.get(&id).cloned()
    }

    /// Every vigy whose labels match `selector`, by name.
    pub(crate) fn list(&self, selector: &LabelSelector) -> Vec<Arc<Entry>> {
        let entries = self.read();
        entries.by_name.values().filter(|entry| selector.matches(&entry.vigy.labels)).cloned().collect()
    }

    /// Up to `take` vigies matching `selector` named after `after`, by
    /// name: one page of a listing.
    pub(crate) fn page(&self, selector: &LabelSelector, after: Option<&str>, take: usize) -> Vec<Arc<Entry>> {
        use std::ops::Bound;
        let entries = self.read();
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        entries
            .by_name
            .range::<str, _>((from, Bound::Unbounded))
            .map(|(_, entry)| entry)
            .filter(|entry| selector.matches(&entry.vigy.labels))
            .take(take)
            .cloned()
            .collect()
    }

    /// How many vigies there are.
    pub(crate) fn len(&self) -> usize {
        self.read().by_id.len()
    }

    /// Record `vigy` as it now is.
    pub(crate) fn put(&self, vigy: Vigy) {
        let entry = Arc::new(Entry { wire: crate::to_api_vigy(&vigy), vigy });
        let mut entries = self.write();
        entries.by_name.insert(entry.vigy.name.clone(), entry.clone());
        entries.by_id.insert(entry.vigy.id, entry);
    }

    /// Forget `id` (deleted).
    pub(crate) fn remove(&self, id: VigyId) {
        let mut entries = self.write();
        if let Some(entry) = entries.by_id.remove(&id) {
            entries.by_name.remove(&entry.vigy.name);
        }
    }

    // A panic while holding the lock cannot leave the maps half-updated
    // (each update is two inserts or two removes of the same vigy), so a
    // poisoned lock is still sound to use.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use vigy_types::TickInterval;

    use super::*;

    fn vigy(name: &str, labels: &[(&str, &str)]) -> Vigy {
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        Vigy::new(name, "(vigy-noop)", TickInterval::from_millis(1000).unwrap())
            .unwrap()
            .with_labels(labels.try_into().unwrap())
    }

    #[test]
    fn list_should_order_by_name_and_filter_by_selector() {
        let catalog = Catalog::new(vec![vigy("zeta", &[("team", "a")]), vigy("alpha", &[("team", "b")])]);
        catalog.put(vigy("mid", &[("team", "a")]));
        let names = |selector: &str| {
            catalog.list(&selector.parse().unwrap()).iter().map(|e| e.wire.name.clone()).collect::<Vec<_>>()
        };
        assert_eq!(names(""), ["alpha", "mid", "zeta"]);
        assert_eq!(names("team=a"), ["mid", "zeta"]);
    }

    #[test]
    fn put_should_replace_and_remove_should_forget_both_ways() {
        let catalog = Catalog::new(vec![vigy("one", &[])]);
        let id = VigyId::for_name(&VigyName::new("one").unwrap());
        catalog.put(vigy("one", &[]).with_enabled(false));
        let entry = catalog.get(id).unwrap();
        assert!(!entry.vigy.enabled && !entry.wire.enabled, "both forms replaced");
        assert_eq!(catalog.list(&LabelSelector::everything()).len(), 1);
        catalog.remove(id);
        assert!(catalog.get(id).is_none());
        assert!(catalog.list(&LabelSelector::everything()).is_empty());
    }
}
