//! Lease records and the lease-store trait, with the in-memory store.
//!
//! Times are Unix seconds passed in by the caller (wall time: leases are
//! meant to outlive the process). The store is an index; it makes no policy.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Who a lease belongs to: the client identifier (option 61) when the
/// client sends one, else its hardware type and address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientKey {
    /// Option 61 bytes.
    Id(Box<[u8]>),
    /// htype and the first `len` (≤16) bytes of chaddr, inline (no heap:
    /// this key is stored twice per lease).
    Hw {
        /// Hardware type.
        htype: u8,
        /// Meaningful bytes of `addr`.
        len: u8,
        /// Hardware address, zero padded.
        addr: [u8; 16],
    },
}

impl ClientKey {
    /// A hardware-address key (at most 16 bytes of `addr` are used).
    pub fn hw(htype: u8, addr: &[u8]) -> Self {
        let len = addr.len().min(16);
        let mut a = [0u8; 16];
        a[..len].copy_from_slice(&addr[..len]);
        ClientKey::Hw {
            htype,
            len: len as u8,
            addr: a,
        }
    }

    /// A stable byte form (for persistence): `I` + id or `H` + htype + addr.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            ClientKey::Id(v) => {
                let mut o = vec![b'I'];
                o.extend_from_slice(v);
                o
            }
            ClientKey::Hw { htype, len, addr } => {
                let mut o = vec![b'H', *htype];
                o.extend_from_slice(&addr[..usize::from(*len)]);
                o
            }
        }
    }

    /// Inverse of [`ClientKey::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        match b.split_first()? {
            (b'I', rest) => Some(ClientKey::Id(rest.into())),
            (b'H', rest) => {
                let (t, a) = rest.split_first()?;
                (a.len() <= 16).then(|| ClientKey::hw(*t, a))
            }
            _ => None,
        }
    }
}

/// Lease state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LeaseState {
    /// Offered, held briefly for the client's REQUEST.
    Offered,
    /// Acknowledged.
    Bound,
    /// Released by the client (kept to give it the same address again).
    Released,
    /// Declined by a client (address in use elsewhere): on probation until
    /// `expires`.
    Declined,
}

impl LeaseState {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseState::Offered => "offered",
            LeaseState::Bound => "bound",
            LeaseState::Released => "released",
            LeaseState::Declined => "declined",
        }
    }

    /// Inverse of [`LeaseState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "offered" => LeaseState::Offered,
            "bound" => LeaseState::Bound,
            "released" => LeaseState::Released,
            "declined" => LeaseState::Declined,
            _ => return None,
        })
    }
}

/// One lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Address.
    pub ip: Ipv4Addr,
    /// Owner.
    pub client: ClientKey,
    /// Hardware address (for display and reservations).
    pub mac: [u8; 6],
    /// State.
    pub state: LeaseState,
    /// Unix seconds when it ends (offer hold, lease end, probation end).
    pub expires: u64,
    /// Matched class name (shared with the class: no copy per lease).
    pub class: Arc<str>,
    /// Option 60 as sent (lossy UTF-8), empty if none.
    pub vendor_class: LeaseText,
    /// Option 12 as sent (lossy UTF-8), empty if none.
    pub hostname: LeaseText,
}

/// A text field of a lease record: one pointer wide, and no allocation
/// when empty. A `Box<str>` is two words; the whole index lives in memory
/// (about 110 bytes per lease in a B-tree node), so each word saved per
/// record is about 1.5 MiB per 100,000 leases.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LeaseText(Option<Box<Box<str>>>);

impl LeaseText {
    /// The text ("" when none).
    pub fn as_str(&self) -> &str {
        self.0.as_deref().map_or("", |b| b)
    }
}

impl std::ops::Deref for LeaseText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for LeaseText {
    fn from(s: String) -> Self {
        if s.is_empty() {
            LeaseText(None)
        } else {
            LeaseText(Some(Box::new(s.into_boxed_str())))
        }
    }
}

impl From<&str> for LeaseText {
    fn from(s: &str) -> Self {
        s.to_string().into()
    }
}

impl std::fmt::Debug for LeaseText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for LeaseText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Lease {
    /// Whether the address is taken at `now` by this lease for anyone but
    /// its owner: offered/bound and unexpired, or declined on probation.
    pub fn is_active(&self, now: u64) -> bool {
        match self.state {
            LeaseState::Offered | LeaseState::Bound | LeaseState::Declined => self.expires > now,
            LeaseState::Released => false,
        }
    }
}

/// Error from a store (only durable stores fail).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backing storage failed.
    #[error("lease store {op} failed: {reason}")]
    Backend {
        /// Operation.
        op: &'static str,
        /// Backend's message.
        reason: String,
    },
}

/// The lease index the server core allocates from.
///
/// The core calls only these in-memory operations on the decision path. A
/// durable store (issue 4) keeps the same index in memory and records the
/// changes made through [`LeaseStore::upsert`] / [`LeaseStore::remove`];
/// the shell makes them durable (`LeaseStore::commit`) before it sends the
/// replies of the batch that produced them.
pub trait LeaseStore: std::fmt::Debug {
    /// The lease on `ip`.
    fn by_ip(&self, ip: Ipv4Addr) -> Option<&Lease>;
    /// The address currently recorded for `client`.
    fn by_client(&self, client: &ClientKey) -> Option<&Lease>;
    /// Inserts or replaces the lease on `lease.ip` (and indexes its client,
    /// dropping the client's previous address from the client index), except
    /// that an offer does not displace the client's binding elsewhere from
    /// the index: the binding stays the client's until an ACK moves it.
    fn upsert(&mut self, lease: Lease);
    /// Removes the lease on `ip`.
    fn remove(&mut self, ip: Ipv4Addr) -> Option<Lease>;
    /// Every lease, ordered by address.
    fn all(&self) -> Vec<&Lease>;
    /// Up to `limit` leases from address `start` on, ordered by address: a
    /// periodic walk takes one slice per tick so that it never holds the
    /// core for long, however many leases there are.
    fn slice_from(&self, start: Ipv4Addr, limit: usize) -> Vec<&Lease>;
    /// Number of leases held.
    fn len(&self) -> usize;
    /// Whether no lease is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Makes pending changes durable. The in-memory store has nothing to do.
    fn commit(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Whether the store shared with other servers cannot be reached now
    /// (a store of one server never is).
    fn offline(&self) -> bool {
        false
    }
    /// Whether this server may grant `ip` to `client` now: always, except
    /// while a shared store is [`offline`](LeaseStore::offline) and the
    /// address is not this server's to grant without it.
    fn may_grant(&self, _ip: Ipv4Addr, _client: &ClientKey, _now: u64) -> bool {
        true
    }
}

/// In-memory store: a BTreeMap by address (ordered listing) and a
/// [`ClientIndex`] from client to address (never reaches the wire).
#[derive(Debug, Default)]
pub struct MemStore {
    by_ip: BTreeMap<u32, Lease>,
    by_client: ClientIndex,
}

/// Shards of the client index; a power of two.
const CLIENT_SHARDS: usize = 64;

/// Client → address, split over [`CLIENT_SHARDS`] hash maps chosen by a
/// keyed hash of the client.
///
/// Why not one map: a `HashMap` grows by rehashing every key at once. At
/// 57,000 leases that held the packet loop for about 10 ms (and twice as
/// long at each doubling after it: 115k, 229k, 459k leases), measured in
/// the benchmark as a reply silence at exactly those lease counts, followed
/// by the queued replies leaving in one burst (docs/decisions.md). With
/// shards, one insert rehashes at most one shard, 1/64 of the keys, and as
/// the shards fill at random (keyed hash) their growth points spread over
/// thousands of inserts instead of landing in one batch.
#[derive(Debug)]
pub(crate) struct ClientIndex {
    pick: std::collections::hash_map::RandomState,
    shards: Box<[HashMap<ClientKey, u32>]>,
}

impl Default for ClientIndex {
    fn default() -> Self {
        Self {
            pick: std::collections::hash_map::RandomState::new(),
            shards: (0..CLIENT_SHARDS).map(|_| HashMap::new()).collect(),
        }
    }
}

impl ClientIndex {
    fn shard(&self, k: &ClientKey) -> usize {
        use std::hash::BuildHasher;
        // The top bits: SipHash output is uniform in all of them.
        (self.pick.hash_one(k) >> (64 - CLIENT_SHARDS.trailing_zeros())) as usize
    }

    /// The address indexed for `k`.
    fn get(&self, k: &ClientKey) -> Option<&u32> {
        self.shards[self.shard(k)].get(k)
    }

    /// Indexes `k` at `ip`.
    fn insert(&mut self, k: ClientKey, ip: u32) {
        let i = self.shard(&k);
        self.shards[i].insert(k, ip);
    }

    /// Drops the entry of `k`.
    fn remove(&mut self, k: &ClientKey) {
        let i = self.shard(k);
        self.shards[i].remove(k);
    }
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl LeaseStore for MemStore {
    fn by_ip(&self, ip: Ipv4Addr) -> Option<&Lease> {
        self.by_ip.get(&u32::from(ip))
    }

    fn by_client(&self, client: &ClientKey) -> Option<&Lease> {
        self.by_client.get(client).and_then(|ip| self.by_ip.get(ip))
    }

    fn upsert(&mut self, lease: Lease) {
        let ip = u32::from(lease.ip);
        if let Some(old) = self.by_ip.get(&ip) {
            if old.client != lease.client && self.by_client.get(&old.client) == Some(&ip) {
                self.by_client.remove(&old.client);
            }
        }
        let bound_elsewhere = lease.state == LeaseState::Offered
            && self
                .by_client
                .get(&lease.client)
                .and_then(|at| self.by_ip.get(at))
                .is_some_and(|l| l.ip != lease.ip && l.state == LeaseState::Bound);
        if !bound_elsewhere {
            self.by_client.insert(lease.client.clone(), ip);
        }
        self.by_ip.insert(ip, lease);
    }

    fn remove(&mut self, ip: Ipv4Addr) -> Option<Lease> {
        let l = self.by_ip.remove(&u32::from(ip))?;
        if self.by_client.get(&l.client) == Some(&u32::from(ip)) {
            self.by_client.remove(&l.client);
        }
        Some(l)
    }

    fn all(&self) -> Vec<&Lease> {
        self.by_ip.values().collect()
    }

    fn slice_from(&self, start: Ipv4Addr, limit: usize) -> Vec<&Lease> {
        self.by_ip
            .range(u32::from(start)..)
            .take(limit)
            .map(|(_, l)| l)
            .collect()
    }

    fn len(&self) -> usize {
        self.by_ip.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(ip: [u8; 4], id: u8) -> Lease {
        Lease {
            ip: Ipv4Addr::from(ip),
            client: ClientKey::hw(1, &[0, 0, 0, 0, 0, id]),
            mac: [0, 0, 0, 0, 0, id],
            state: LeaseState::Bound,
            expires: 100,
            class: "".into(),
            vendor_class: "".into(),
            hostname: "".into(),
        }
    }

    #[test]
    fn client_index_follows_moves_and_takeovers() {
        let mut s = MemStore::new();
        s.upsert(lease([10, 0, 0, 1], 1));
        s.upsert(lease([10, 0, 0, 2], 1)); // client 1 moves
        assert_eq!(
            s.by_client(&lease([0; 4], 1).client).unwrap().ip,
            Ipv4Addr::new(10, 0, 0, 2)
        );
        s.upsert(lease([10, 0, 0, 2], 2)); // client 2 takes .2
        assert!(s.by_client(&lease([0; 4], 1).client).is_none());
        assert_eq!(s.all().len(), 2);
        s.remove(Ipv4Addr::new(10, 0, 0, 2));
        assert!(s.by_client(&lease([0; 4], 2).client).is_none());
    }

    #[test]
    fn client_index_spreads_sequential_macs_over_its_shards() {
        // perfdhcp-like clients: consecutive MACs. Every shard gets its
        // share (so no shard holds the whole index and its rehash), and
        // the shard sizes differ, so they do not all grow on the same
        // insert.
        let mut ix = ClientIndex::default();
        let n = 64_000u32;
        for i in 0..n {
            let b = i.to_be_bytes();
            ix.insert(ClientKey::hw(1, &[2, 0, b[0], b[1], b[2], b[3]]), i);
        }
        let mean = n as usize / CLIENT_SHARDS;
        let sizes: Vec<usize> = ix.shards.iter().map(HashMap::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), n as usize);
        assert!(sizes.iter().all(|&l| l < mean * 13 / 10), "{sizes:?}");
        assert!(sizes.iter().all(|&l| l > mean * 7 / 10), "{sizes:?}");
        assert!(sizes.iter().any(|&l| l != sizes[0]), "{sizes:?}");
        let k = ClientKey::hw(1, &[2, 0, 0, 0, 0, 7]);
        assert_eq!(ix.get(&k), Some(&7));
        ix.remove(&k);
        assert_eq!(ix.get(&k), None);
        assert_eq!(
            ix.shards.iter().map(HashMap::len).sum::<usize>(),
            n as usize - 1
        );
    }

    #[test]
    fn lease_text_is_one_word_and_round_trips() {
        assert_eq!(
            std::mem::size_of::<LeaseText>(),
            std::mem::size_of::<usize>()
        );
        assert_eq!(LeaseText::from(""), LeaseText::default());
        assert_eq!(LeaseText::from(String::new()).as_str(), "");
        let t = LeaseText::from("450HD");
        assert_eq!(&*t, "450HD");
        assert_eq!(t.to_string(), "450HD");
        assert_eq!(format!("{t:?}"), "\"450HD\"");
    }

    #[test]
    fn client_key_bytes_round_trip() {
        for k in [
            ClientKey::Id(vec![1, 2, 3].into()),
            ClientKey::hw(1, &[0, 0x90, 0x8f, 1, 2, 3]),
        ] {
            assert_eq!(ClientKey::from_bytes(&k.to_bytes()), Some(k));
        }
        assert_eq!(ClientKey::from_bytes(b"X"), None);
    }
}
