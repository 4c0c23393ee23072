//! The faces that wait for their phone digits. When the search among everyone asks for the
//! digits, the payment's probe template is held here, on the node that took the capture, until
//! the digits arrive and that face is searched again inside their bucket. A probe is a secret:
//! it lives in this node's memory only (never journaled or stored, so it never outlives the
//! process), is taken by the first phone-digit request, is forgotten after `hold_ms`, and at most
//! `most` are held: past that the oldest goes first. A phone-digit request that finds no probe
//! here (too late, or sent to another node) is refused and the payment is left as it was.
//!
//! The same holding keeps a gate's open decisions (`HeldFor<Ticket, Admitted>`) until the gate
//! reports the passage.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::Mutex;

use facepay_domain::{FaceTemplate, PaymentId};

pub(crate) type HeldProbes = HeldFor<PaymentId, FaceTemplate>;

/// Values held by key for a while, in this node's memory only.
#[derive(Debug)]
pub(crate) struct HeldFor<K, V> {
    hold_ms: i64,
    most: usize,
    held: Mutex<Held<K, V>>,
}

#[derive(Debug)]
struct Held<K, V> {
    /// Each held value, the time it lapses and its place in `by_age`.
    probes: HashMap<K, (V, i64, u64)>,
    /// Oldest first: (place, key).
    by_age: BTreeMap<u64, K>,
    next_place: u64,
}

impl<K: Copy + Eq + Hash, V> HeldFor<K, V> {
    pub(crate) fn new(hold_ms: i64, most: usize) -> HeldFor<K, V> {
        let held = Held { probes: HashMap::new(), by_age: BTreeMap::new(), next_place: 0 };
        HeldFor { hold_ms, most, held: Mutex::new(held) }
    }

    /// Holds `probe` for `payment` from `now_ms`, replacing one it held already.
    pub(crate) fn hold(&self, payment: K, probe: V, now_ms: i64) {
        let mut held = self.held.lock().expect("no panic while holding probes");
        held.remove(payment);
        held.forget_lapsed(now_ms);
        while held.probes.len() >= self.most.max(1) {
            let Some((_, oldest)) = held.by_age.pop_first() else { break };
            held.probes.remove(&oldest);
        }
        let place = held.next_place;
        held.next_place += 1;
        held.by_age.insert(place, payment);
        held.probes.insert(payment, (probe, now_ms.saturating_add(self.hold_ms), place));
    }

    /// The probe held for `payment`, taken out, unless it lapsed.
    pub(crate) fn take(&self, payment: K, now_ms: i64) -> Option<V> {
        let mut held = self.held.lock().expect("no panic while holding probes");
        let (probe, lapses, _) = held.remove(payment)?;
        (now_ms < lapses).then_some(probe)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.held.lock().unwrap().probes.len()
    }
}

impl<K: Copy + Eq + Hash, V: Clone> HeldFor<K, V> {
    /// A copy of what is held for `key`, left held, unless it lapsed.
    pub(crate) fn get(&self, key: K, now_ms: i64) -> Option<V> {
        let held = self.held.lock().expect("no panic while holding");
        held.probes.get(&key).filter(|(_, lapses, _)| now_ms < *lapses).map(|(value, _, _)| value.clone())
    }
}

impl<K: Copy + Eq + Hash, V> Held<K, V> {
    fn remove(&mut self, payment: K) -> Option<(V, i64, u64)> {
        let removed = self.probes.remove(&payment)?;
        self.by_age.remove(&removed.2);
        Some(removed)
    }

    /// Every probe is held for the same time, so they lapse oldest first.
    fn forget_lapsed(&mut self, now_ms: i64) {
        while let Some((&place, &payment)) = self.by_age.first_key_value() {
            if self.probes[&payment].1 > now_ms {
                break;
            }
            self.by_age.remove(&place);
            self.probes.remove(&payment);
        }
    }
}

#[cfg(test)]
mod tests {
    use facepay_domain::RecognizerTag;

    use super::*;

    fn probe(n: f32) -> FaceTemplate {
        let recognizer = RecognizerTag { name: "test".into(), version: "1".into() };
        FaceTemplate::new(recognizer, vec![1.0, n]).unwrap()
    }

    fn id(n: u128) -> PaymentId {
        PaymentId::from_u128(n)
    }

    #[test]
    fn a_probe_is_taken_once_and_not_after_it_lapses() {
        let probes = HeldProbes::new(1_000, 10);
        probes.hold(id(1), probe(0.5), 0);
        probes.hold(id(2), probe(0.6), 0);
        assert_eq!(
            probes.take(id(1), 999).map(|p| p.expose_embedding().to_vec()),
            Some(probe(0.5).expose_embedding().to_vec())
        );
        assert!(probes.take(id(1), 999).is_none(), "taken once");
        assert!(probes.take(id(2), 1_000).is_none(), "lapsed at its time");
        assert!(probes.take(id(3), 0).is_none(), "never held");
        probes.hold(id(4), probe(0.1), 0);
        probes.hold(id(5), probe(0.1), 2_000);
        assert_eq!(probes.len(), 1, "a hold forgets what lapsed");
    }

    #[test]
    fn past_the_most_held_the_oldest_goes_first() {
        let probes = HeldProbes::new(1_000, 2);
        probes.hold(id(1), probe(0.1), 0);
        probes.hold(id(2), probe(0.2), 1);
        probes.hold(id(1), probe(0.3), 2);
        probes.hold(id(3), probe(0.4), 3);
        assert_eq!(probes.len(), 2);
        assert!(probes.take(id(2), 4).is_none(), "the oldest, since 1 was held again after it");
        assert!(probes.take(id(1), 4).is_some() && probes.take(id(3), 4).is_some());
    }
}
