//! One subscriber's bounded queue and its loss accounting (pure: no
//! socket, no clock, no lock; the shell in `events.rs` wraps it).
//!
//! A full queue refuses the line and counts it; the count goes out as one
//! gap marker ([`Item::Lost`]) in front of the next line the queue takes,
//! or on its own when the subscriber has drained everything, so a
//! subscriber always learns how many events it missed and where.

use std::collections::VecDeque;

/// Lines a subscriber may have waiting before the next ones are dropped.
pub const CAPACITY: usize = 4096;

/// What the writer sends next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<L> {
    /// An event line.
    Line(L),
    /// `count` events were dropped here.
    Lost(u64),
}

/// A subscriber's queue of lines (`L`: the serialised line, shared by all
/// subscribers).
#[derive(Debug)]
pub struct SubscriberQueue<L> {
    items: VecDeque<Item<L>>,
    capacity: usize,
    /// Dropped since the last marker was queued.
    lost: u64,
}

impl<L> SubscriberQueue<L> {
    /// An empty queue holding at most `capacity` items (markers included,
    /// so memory stays bounded whatever the subscriber does).
    pub fn new(capacity: usize) -> Self {
        SubscriberQueue {
            items: VecDeque::new(),
            capacity: capacity.max(2),
            lost: 0,
        }
    }

    /// Offers a line: false when the queue is full (the line is dropped
    /// and counted for the next marker).
    pub fn offer(&mut self, line: L) -> bool {
        let needed = if self.lost > 0 { 2 } else { 1 };
        if self.items.len() + needed > self.capacity {
            self.lost += 1;
            return false;
        }
        if self.lost > 0 {
            self.items
                .push_back(Item::Lost(std::mem::take(&mut self.lost)));
        }
        self.items.push_back(Item::Line(line));
        true
    }

    /// The next item to write: queued items in order, then a pending
    /// marker once everything before the gap has been taken.
    pub fn pop(&mut self) -> Option<Item<L>> {
        match self.items.pop_front() {
            Some(item) => Some(item),
            None if self.lost > 0 => Some(Item::Lost(std::mem::take(&mut self.lost))),
            None => None,
        }
    }

    /// Items waiting (markers included).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing waits (not even a marker).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.lost == 0
    }
}

#[cfg(test)]
mod tests {
    use super::{Item, SubscriberQueue};

    fn drain(q: &mut SubscriberQueue<u32>) -> Vec<Item<u32>> {
        std::iter::from_fn(|| q.pop()).collect()
    }

    #[test]
    fn lines_come_out_in_order() {
        let mut q = SubscriberQueue::new(8);
        for i in 0..5 {
            assert!(q.offer(i));
        }
        assert_eq!(drain(&mut q), (0..5).map(Item::Line).collect::<Vec<_>>());
        assert!(q.is_empty());
    }

    #[test]
    fn a_full_queue_drops_and_marks_the_gap_before_the_next_line() {
        let mut q = SubscriberQueue::new(4);
        let taken: Vec<bool> = (0..10).map(|i| q.offer(i)).collect();
        assert_eq!(
            taken,
            [true, true, true, true, false, false, false, false, false, false]
        );
        assert_eq!(q.pop(), Some(Item::Line(0)));
        assert_eq!(q.pop(), Some(Item::Line(1)));
        // Two free slots: the marker and the next line.
        assert!(q.offer(10));
        assert_eq!(
            drain(&mut q),
            vec![Item::Line(2), Item::Line(3), Item::Lost(6), Item::Line(10)]
        );
    }

    #[test]
    fn a_drained_queue_hands_out_a_pending_marker_on_its_own() {
        let mut q = SubscriberQueue::new(2);
        for i in 0..5 {
            q.offer(i);
        }
        assert_eq!(
            drain(&mut q),
            vec![Item::Line(0), Item::Line(1), Item::Lost(3)]
        );
        assert!(q.is_empty());
        assert!(q.offer(7));
        assert_eq!(drain(&mut q), vec![Item::Line(7)]);
    }

    #[test]
    fn one_free_slot_is_not_enough_for_marker_and_line() {
        let mut q = SubscriberQueue::new(3);
        for i in 0..4 {
            q.offer(i);
        }
        assert_eq!(q.pop(), Some(Item::Line(0)));
        // One slot free, but a marker is owed: the line is dropped too,
        // never delivered without its marker in front.
        assert!(!q.offer(4));
        assert_eq!(q.len(), 2);
        assert_eq!(
            drain(&mut q),
            vec![Item::Line(1), Item::Line(2), Item::Lost(2)]
        );
    }

    #[test]
    fn every_offer_is_delivered_or_counted() {
        // Random offers and pops: lines delivered plus markers' counts
        // equal lines offered, and the queue never exceeds its bound.
        let mut q = SubscriberQueue::new(16);
        let mut offered = 0u64;
        let mut delivered = 0u64;
        let mut marked = 0u64;
        let mut next = 0u32;
        let mut last = None;
        let mut x: u32 = 0x1234_5678;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if x % 3 == 0 {
                match q.pop() {
                    Some(Item::Line(l)) => {
                        assert!(last.is_none_or(|p| l > p), "out of order");
                        last = Some(l);
                        delivered += 1;
                    }
                    Some(Item::Lost(n)) => {
                        assert!(n > 0);
                        marked += n;
                    }
                    None => {}
                }
            } else {
                q.offer(next);
                next += 1;
                offered += 1;
            }
            assert!(q.len() <= 16);
        }
        while let Some(item) = q.pop() {
            match item {
                Item::Line(_) => delivered += 1,
                Item::Lost(n) => marked += n,
            }
        }
        assert!(marked > 0, "the test never overflowed the queue");
        assert_eq!(delivered + marked, offered);
    }
}
