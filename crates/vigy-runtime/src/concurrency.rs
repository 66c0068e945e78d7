//! Limits on how many ticks run at once: one for the whole runtime, and
//! any number for the vigies a label selector picks (at most 2 at once for
//! `target=github`, say, whatever their schedules).
//!
//! A tick takes a slot of every limit its vigy falls under, all of them or
//! none; one that cannot waits in the scheduler, in the order it became due,
//! still holding its vigy's one slot (so its next due time is not planned
//! until it has run). A finished tick gives its slots back and the waiting
//! ticks that now fit start, oldest first; one waiting for a busy label does
//! not hold back one of another label behind it. Forced ticks wait alike:
//! the limit protects what the ticks reach, however they were started.

use std::collections::HashMap;

use vigy_types::{LabelSelector, Vigy, VigyId};

/// The limits a runtime ticks under (`RuntimeBuilder::max_concurrent_ticks`,
/// `RuntimeBuilder::concurrency_limit`). None by default: the worker pool's
/// size is then the only bound.
#[derive(Debug, Clone, Default)]
pub struct ConcurrencyLimits {
    /// Ticks running at once in the whole runtime.
    pub total: Option<usize>,
    /// Ticks running at once among the vigies each selector picks.
    pub by_selector: Vec<(LabelSelector, usize)>,
}

/// The slots in use, and which each running tick holds.
#[derive(Debug)]
pub(crate) struct Slots {
    limits: ConcurrencyLimits,
    running: usize,
    in_use: Vec<usize>,
    /// The selector limits each running tick counts against.
    held: HashMap<VigyId, Vec<usize>>,
}

impl Slots {
    pub(crate) fn new(limits: ConcurrencyLimits) -> Self {
        let in_use = vec![0; limits.by_selector.len()];
        Self { limits, running: 0, in_use, held: HashMap::new() }
    }

    /// Take every slot a tick of `vigy` needs, or none and say so.
    pub(crate) fn try_take(&mut self, vigy: &Vigy) -> bool {
        if self.limits.total.is_some_and(|max| self.running >= max) {
            return false;
        }
        let applies: Vec<usize> = (self.limits.by_selector.iter().enumerate())
            .filter(|(_, (selector, _))| selector.matches(&vigy.labels))
            .map(|(index, _)| index)
            .collect();
        if applies.iter().any(|&index| self.in_use[index] >= self.limits.by_selector[index].1) {
            return false;
        }
        for &index in &applies {
            self.in_use[index] += 1;
        }
        self.running += 1;
        self.held.insert(vigy.id, applies);
        true
    }

    /// The tick of `id` ended: its slots are free (nothing if it held none).
    pub(crate) fn give_back(&mut self, id: VigyId) {
        if let Some(applies) = self.held.remove(&id) {
            self.running -= 1;
            for index in applies {
                self.in_use[index] -= 1;
            }
        }
    }

    /// Whether any limit is set (otherwise every tick starts at once).
    pub(crate) fn limited(&self) -> bool {
        self.limits.total.is_some() || !self.limits.by_selector.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vigy(name: &str, labels: &[&str]) -> Vigy {
        let every = vigy_types::TickInterval::from_millis(1_000).unwrap();
        Vigy::new(name, "(vigy-noop)", every)
            .unwrap()
            .with_labels(vigy_types::Labels::from_pairs(labels.iter().copied()).unwrap())
    }

    #[test]
    fn slots_should_be_taken_all_or_none_and_given_back() {
        let github = ("target=github".parse().unwrap(), 2);
        let mut slots = Slots::new(ConcurrencyLimits { total: Some(3), by_selector: vec![github] });
        let (a, b, c, d) = (
            vigy("a", &["target=github"]),
            vigy("b", &["target=github"]),
            vigy("c", &["target=github"]),
            vigy("d", &["target=gitlab"]),
        );
        assert!(slots.try_take(&a) && slots.try_take(&b));
        assert!(!slots.try_take(&c), "a third github tick waits");
        assert!(slots.try_take(&d), "another label is not held back");
        slots.give_back(a.id);
        assert!(slots.try_take(&c));
        assert!(!slots.try_take(&vigy("e", &[])), "the runtime-wide limit of 3 holds");
        slots.give_back(d.id);
        slots.give_back(d.id); // twice is harmless
        assert!(slots.try_take(&vigy("e", &[])));
    }
}
