//! A map keyed by short byte strings, without a heap allocation or a pointer chase per
//! key for the common case.
//!
//! Design notes
//! - Pieces of text and BPE tokens are short: on the English sample 99.9% of pieces are
//!   at most 15 bytes. Such a key is packed into a `u128` (bytes in the low 15 bytes,
//!   the length in the top byte), so lookups hash and compare one integer and the table
//!   holds no pointers. Longer keys live in a second map of boxed slices. Counting
//!   pieces in training and the lookups of encoding both gain over a
//!   `HashMap<Box<[u8]>, _>` (see the benchmark README for numbers).

use std::ops::Deref;

use hashbrown::HashMap;

/// Longest key stored packed.
pub const SHORT_MAX: usize = 15;

/// Packs `bytes` (at most [`SHORT_MAX`] long) into a `u128` key.
///
/// Two possibly overlapping loads instead of a copy into a buffer (a variable-length
/// copy is a `memmove` call, which cost more than the hash): a byte read by both loads
/// lands on the same bit position in each, so or-ing them is exact. Each half of the
/// key is computed in a `u64` (a `u128` shift by a variable amount is a sequence of
/// double shifts and conditional moves).
#[inline]
pub fn pack(bytes: &[u8]) -> Option<u128> {
    let n = bytes.len();
    let (lo, hi): (u64, u64) = match n {
        0 => (0, 0),
        1..=3 => {
            let lo = u64::from(bytes[0])
                | u64::from(bytes[n / 2]) << (8 * (n / 2))
                | u64::from(bytes[n - 1]) << (8 * (n - 1));
            (lo, 0)
        }
        4..=8 => {
            let head = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            let tail = u32::from_le_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]);
            (u64::from(head) | u64::from(tail) << (8 * (n - 4)), 0)
        }
        9..=SHORT_MAX => {
            let (head, tail) = (bytes.first_chunk::<8>()?, bytes.last_chunk::<8>()?);
            // The tail's last n - 8 bytes are bytes 8.. of the piece.
            (u64::from_le_bytes(*head), u64::from_le_bytes(*tail) >> (8 * (16 - n)))
        }
        _ => return None,
    };
    Some(u128::from(lo) | u128::from(hi | (n as u64) << 56) << 64)
}

/// [`pack`] of `piece`, a part of `text`, from one 16-byte load of the text masked to
/// the piece's length when the text has 16 bytes from where the piece starts: no branch
/// on the length (piece lengths vary from one piece to the next, so such branches are
/// mispredicted). Falls back to [`pack`] near the end of the text, or if `piece` is not
/// in `text` (the result is the same either way: the bytes at the piece's address are
/// its bytes).
#[inline(always)]
pub fn pack_within(text: &[u8], piece: &[u8]) -> Option<u128> {
    let n = piece.len();
    let start = (piece.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    let window = text.get(start..start.wrapping_add(16)).and_then(|w| <&[u8; 16]>::try_from(w).ok());
    match (window, PACK_MASKS.get(n)) {
        (Some(w), Some(&(lo_mask, hi_mask))) => {
            let (lo, hi) = w.split_at(8);
            let lo = u64::from_le_bytes(lo.try_into().ok()?) & lo_mask;
            let hi = u64::from_le_bytes(hi.try_into().ok()?) & hi_mask;
            Some(u128::from(lo) | u128::from(hi | (n as u64) << 56) << 64)
        }
        _ => pack(piece),
    }
}

/// For each length up to [`SHORT_MAX`], the masks of a key's two halves that keep that
/// many bytes (see [`pack_within`]).
const PACK_MASKS: [(u64, u64); SHORT_MAX + 1] = {
    let mut masks = [(0, 0); SHORT_MAX + 1];
    let mut n = 0;
    while n <= SHORT_MAX {
        let lo = if n >= 8 { u64::MAX } else { (1u64 << (8 * n)) - 1 };
        let hi = if n <= 8 { 0 } else { (1u64 << (8 * (n - 8))) - 1 };
        masks[n] = (lo, hi);
        n += 1;
    }
    masks
};

/// The length of a packed key.
#[inline]
pub fn packed_len(key: u128) -> usize {
    (key >> 120) as usize
}

/// Joins two packed keys into the key of their concatenation, if it is short enough.
#[inline]
pub fn concat(a: u128, b: u128) -> Option<u128> {
    let (la, lb) = (packed_len(a), packed_len(b));
    if la + lb > SHORT_MAX {
        return None;
    }
    let body_a = a & !(0xffu128 << 120);
    let body_b = b & !(0xffu128 << 120);
    Some(body_a | (body_b << (8 * la)) | (((la + lb) as u128) << 120))
}

/// A key borrowed from a [`BytesMap`]: derefs to its bytes.
#[derive(Clone, Copy)]
pub enum Key<'a> {
    /// A packed short key.
    Short([u8; 16]),
    /// A packed middle key.
    Mid([u8; 32]),
    /// A long key.
    Long(&'a [u8]),
}

impl Deref for Key<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Key::Short(buf) => &buf[..buf[15] as usize],
            Key::Mid(buf) => &buf[..buf[31] as usize],
            Key::Long(s) => s,
        }
    }
}

/// Longest key stored in the middle tier (two `u128`s: 31 bytes and the length).
pub const MID_MAX: usize = 31;

#[inline]
fn pack_mid(bytes: &[u8]) -> [u128; 2] {
    debug_assert!((16..=MID_MAX).contains(&bytes.len()));
    let n = bytes.len();
    // Two 16-byte loads, the first 16 bytes and the last 16, instead of a copy of
    // variable length (a `memcpy` call): the last ones' top `n - 16` are bytes 16.. .
    let head = bytes.first_chunk::<16>().map_or(0, |h| u128::from_le_bytes(*h));
    let tail = bytes.last_chunk::<16>().map_or(0, |t| u128::from_le_bytes(*t));
    let rest = tail.checked_shr(8 * (32 - n) as u32).unwrap_or(0);
    [head, rest | (n as u128) << 120]
}

/// A hash map from byte strings to `V`, in three tiers by key length (see the module
/// notes): up to 15 bytes packed in a `u128`, up to 31 in two, longer ones boxed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BytesMap<V> {
    short: HashMap<u128, V>,
    mid: HashMap<[u128; 2], V>,
    long: HashMap<Box<[u8]>, V>,
}

impl<V> Default for BytesMap<V> {
    fn default() -> Self {
        BytesMap { short: HashMap::new(), mid: HashMap::new(), long: HashMap::new() }
    }
}

impl<V> BytesMap<V> {
    /// An empty map with room for `n` short keys.
    pub fn with_capacity(n: usize) -> Self {
        BytesMap { short: HashMap::with_capacity(n), mid: HashMap::new(), long: HashMap::new() }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.short.len() + self.mid.len() + self.long.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every entry, keeping the allocated capacity.
    pub fn clear(&mut self) {
        self.short.clear();
        self.mid.clear();
        self.long.clear();
    }

    /// The value of `key`.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        match key.len() {
            0..=SHORT_MAX => self.short.get(&pack(key)?),
            16..=MID_MAX => self.mid.get(&pack_mid(key)),
            _ => self.long.get(key),
        }
    }

    /// The value of a packed key.
    #[inline]
    pub fn get_packed(&self, key: u128) -> Option<&V> {
        self.short.get(&key)
    }

    /// Inserts, returning the old value.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        match key.len() {
            0..=SHORT_MAX => self.short.insert(pack(key)?, value),
            16..=MID_MAX => self.mid.insert(pack_mid(key), value),
            _ => self.long.insert(key.into(), value),
        }
    }

    /// The value of `key`, inserted with `default()` first if missing.
    #[inline]
    pub fn get_or_insert_with(&mut self, key: &[u8], default: impl FnOnce() -> V) -> &mut V {
        match key.len() {
            0..=SHORT_MAX => self.short.entry(pack(key).unwrap_or(0)).or_insert_with(default),
            16..=MID_MAX => self.mid.entry(pack_mid(key)).or_insert_with(default),
            _ => {
                if !self.long.contains_key(key) {
                    self.long.insert(key.into(), default());
                }
                self.long.get_mut(key).unwrap_or_else(|| unreachable!("inserted above"))
            }
        }
    }

    /// Every `(key, value)`, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Key<'_>, &V)> + '_ {
        let short = self.short.iter().map(|(k, v)| (Key::Short(k.to_le_bytes()), v));
        let mid = self.mid.iter().map(|(k, v)| {
            let mut buf = [0u8; 32];
            buf[..16].copy_from_slice(&k[0].to_le_bytes());
            buf[16..].copy_from_slice(&k[1].to_le_bytes());
            (Key::Mid(buf), v)
        });
        short.chain(mid).chain(self.long.iter().map(|(k, v)| (Key::Long(k), v)))
    }

    /// Every value, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.short.values().chain(self.mid.values()).chain(self.long.values())
    }

    /// Moves every entry of `other` into `self`, combining values of equal keys with `add`.
    pub fn merge_with(&mut self, other: BytesMap<V>, mut add: impl FnMut(&mut V, V)) {
        for (k, v) in other.short {
            match self.short.entry(k) {
                hashbrown::hash_map::Entry::Occupied(mut e) => add(e.get_mut(), v),
                hashbrown::hash_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        for (k, v) in other.mid {
            match self.mid.entry(k) {
                hashbrown::hash_map::Entry::Occupied(mut e) => add(e.get_mut(), v),
                hashbrown::hash_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        for (k, v) in other.long {
            match self.long.entry(k) {
                hashbrown::hash_map::Entry::Occupied(mut e) => add(e.get_mut(), v),
                hashbrown::hash_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
    }
}

/// Keys up to this long share their slot with their value in a [`RankMap`].
const INLINE_MAX: usize = 11;
/// The key bits of an inline slot: bytes 0..11 and the length byte; the value sits in
/// bytes 11..15.
const INLINE_KEY: u128 = !(0xffff_ffffu128 << 88);

/// A read-only map from byte strings to `u32`, laid out for lookup speed: the rank
/// table of a tokenizer, probed for every candidate merge.
///
/// Keys of up to 11 bytes (91% of o200k's tokens, 95% of cl100k's) are packed with their
/// value into one `u128`, so a table slot is 16 bytes instead of the 32 a
/// `HashMap<u128, u32>` takes (alignment pads it). The table of o200k's short tokens is
/// then 4 MiB rather than 8: it misses the caches and the TLB less, and a hit is one
/// cache line. Longer keys go to a [`BytesMap`].
///
/// [`RankMap::get`] first checks a key of three or more bytes against two bitsets of 64K
/// bits (16 KiB together, so they stay in the L1 cache): the first two bytes of some key
/// of three or more bytes, the last two of one. A key that fails either is a miss without
/// touching the table (where a miss is mostly a cache miss: the table is megabytes). Of
/// the three-to-eight-byte substrings of random bytes as latin-1 text, 95-98% stop there
/// (cl100k, o200k); of English, half. [`RankMap::get_unfiltered`] skips the check, for
/// keys that are mostly present.
#[derive(Debug, Clone)]
pub struct RankMap {
    inline: hashbrown::HashTable<u128>,
    rest: BytesMap<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    /// Bit `x` set: some key of three or more bytes starts (`heads`) / ends (`tails`) with
    /// the two bytes `x` (big-endian).
    heads: Box<[u64; 1024]>,
    tails: Box<[u64; 1024]>,
}

/// Whether bit `x` of `bits` is set.
#[inline(always)]
fn has(bits: &[u64; 1024], x: usize) -> bool {
    bits[x >> 6] >> (x & 63) & 1 != 0
}

impl RankMap {
    /// The same entries as `map`.
    pub fn new(map: &BytesMap<u32>) -> Self {
        use std::hash::BuildHasher;
        let hasher = hashbrown::DefaultHashBuilder::default();
        let mut inline = hashbrown::HashTable::with_capacity(map.short.len());
        let mut rest = BytesMap::default();
        let (mut heads, mut tails) = (Box::new([0u64; 1024]), Box::new([0u64; 1024]));
        for (key, &value) in map.iter() {
            if let ([a, b, ..], [.., y, z]) = (&*key, &*key) {
                if key.len() >= 3 {
                    let (h, t) =
                        (usize::from(*a) << 8 | usize::from(*b), usize::from(*y) << 8 | usize::from(*z));
                    heads[h >> 6] |= 1 << (h & 63);
                    tails[t >> 6] |= 1 << (t & 63);
                }
            }
            match pack(&key) {
                Some(k) if key.len() <= INLINE_MAX => {
                    let slot = k | u128::from(value) << 88;
                    inline.insert_unique(hasher.hash_one(k), slot, |&s| hasher.hash_one(s & INLINE_KEY));
                }
                _ => {
                    rest.insert(&key, value);
                }
            }
        }
        RankMap { inline, rest, hasher, heads, tails }
    }

    /// The value of `key`.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<u32> {
        if !self.may_have(key) {
            return None;
        }
        self.get_unfiltered(key)
    }

    /// Whether `key` passes the head and tail bitsets (keys shorter than three bytes do).
    #[inline]
    pub fn may_have(&self, key: &[u8]) -> bool {
        match (key, key) {
            // `&`, not `&&`: one branch, not two.
            ([a, b, _, ..], [.., y, z]) => {
                has(&self.heads, usize::from(*a) << 8 | usize::from(*b))
                    & has(&self.tails, usize::from(*y) << 8 | usize::from(*z))
            }
            _ => true,
        }
    }

    /// [`RankMap::get`] without the bitsets: for keys that are mostly present, such as
    /// whole pieces (in ordinary text most short pieces are tokens, so checking the
    /// bitsets first would only add work).
    #[inline]
    pub fn get_unfiltered(&self, key: &[u8]) -> Option<u32> {
        use std::hash::BuildHasher;
        if key.len() <= INLINE_MAX {
            let k = pack(key)?;
            self.inline.find(self.hasher.hash_one(k), |&s| s & INLINE_KEY == k).map(|&s| (s >> 88) as u32)
        } else {
            self.rest.get(key).copied()
        }
    }

    /// The value of a packed key (see [`pack`]).
    #[inline]
    pub fn get_packed(&self, k: u128) -> Option<u32> {
        use std::hash::BuildHasher;
        if packed_len(k) <= INLINE_MAX {
            self.inline.find(self.hasher.hash_one(k), |&s| s & INLINE_KEY == k).map(|&s| (s >> 88) as u32)
        } else {
            self.rest.get_packed(k).copied()
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.inline.len() + self.rest.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pack_within_equals_pack(text in proptest::collection::vec(any::<u8>(), 0..40), start in 0usize..40, len in 0usize..20) {
            let start = start.min(text.len());
            let piece = &text[start..(start + len).min(text.len())];
            prop_assert_eq!(pack_within(&text, piece), pack(piece));
            let elsewhere = piece.to_vec(); // not in `text`
            prop_assert_eq!(pack_within(&text, &elsewhere), pack(piece));
        }

        #[test]
        fn pack_equals_a_plain_copy(a in proptest::collection::vec(any::<u8>(), 0..20)) {
            let plain = (a.len() <= SHORT_MAX).then(|| {
                let mut buf = [0u8; 16];
                buf[..a.len()].copy_from_slice(&a);
                buf[15] = a.len() as u8;
                u128::from_le_bytes(buf)
            });
            prop_assert_eq!(pack(&a), plain);
        }

        #[test]
        fn pack_mid_equals_a_plain_copy(a in proptest::collection::vec(any::<u8>(), 16..=MID_MAX)) {
            let mut buf = [0u8; 32];
            buf[..a.len()].copy_from_slice(&a);
            buf[31] = a.len() as u8;
            let (lo, hi) = buf.split_at(16);
            let plain = [u128::from_le_bytes(lo.try_into().unwrap()), u128::from_le_bytes(hi.try_into().unwrap())];
            prop_assert_eq!(pack_mid(&a), plain);
        }

        #[test]
        fn packed_keys_roundtrip_and_concat(a in proptest::collection::vec(any::<u8>(), 0..40), b in proptest::collection::vec(any::<u8>(), 0..20)) {
            let mut m = BytesMap::default();
            m.insert(&a, 1u32);
            prop_assert_eq!(m.get(&a), Some(&1));
            let keys: Vec<Vec<u8>> = m.iter().map(|(k, _)| k.to_vec()).collect();
            prop_assert_eq!(keys, vec![a.clone()]);
            let joined: Vec<u8> = a.iter().chain(&b).copied().collect();
            match (pack(&a), pack(&b)) {
                (Some(ka), Some(kb)) => prop_assert_eq!(concat(ka, kb), pack(&joined)),
                _ => prop_assert!(a.len() > SHORT_MAX || b.len() > SHORT_MAX),
            }
        }
    }

    proptest! {
        #[test]
        fn rank_map_equals_its_source(
            keys in proptest::collection::vec(proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..40), 0..60),
            probes in proptest::collection::vec(proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8)], 0..14), 0..60),
        ) {
            let mut m = BytesMap::default();
            for (i, k) in keys.iter().enumerate() {
                // values use all 32 bits, so a value bleeding into the key bits would show
                m.insert(k, (i as u32).wrapping_mul(0x9e37_79b9) | 0x8000_0001);
            }
            let r = RankMap::new(&m);
            prop_assert_eq!(r.len(), m.len());
            for k in keys.iter().chain(&probes) {
                prop_assert_eq!(r.get(k), m.get(k).copied());
                if let Some(packed) = pack(k) {
                    prop_assert_eq!(r.get_packed(packed), m.get(k).copied());
                }
            }
        }
    }

    #[test]
    fn empty_and_zero_bytes_are_distinct_keys() {
        let mut m = BytesMap::default();
        m.insert(b"", 0);
        m.insert(b"\0", 1);
        m.insert(b"\0\0", 2);
        assert_eq!((m.get(b""), m.get(b"\0"), m.get(b"\0\0")), (Some(&0), Some(&1), Some(&2)));
    }
}
