//! Encoding many texts in parallel.
//!
//! The texts are cut into groups of neighbouring texts of about equal bytes, a few groups
//! per thread; the threads (the calling one and the pool's helpers) take the groups in
//! turn from a counter, each encoding its group's texts one after another into one id
//! vector with its own offsets, and the groups' results are put together in order. So
//! the cost per text is a push of an offset, not a task, an allocation and a copy: a
//! batch of paragraph-sized texts costs per byte what one long text does.

use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{SpecialPolicy, Tokenizer};
use crate::error::{Error, Result};

/// Each group takes this share of the bytes still left per thread (see [`groups`]): the
/// groups shrink as the batch goes, so the first are long next to taking one (a new id
/// vector) and the last are short, and the threads end close together (the last group
/// to finish bounds the call) however their texts encode and however late a helper
/// starts. (Groups of equal size, four per thread: 2 MiB in 10 KB documents on two
/// threads 1.58-1.68x one thread, in a Rust loop of calls; shrinking ones 1.72-1.75x.)
const GROUPS_PER_THREAD: usize = 2;
/// Bytes of text per group, at least (a smaller batch runs on fewer threads) and at most
/// (a large batch gets more groups, so none holds a large share of the ids at once).
const GROUP_MIN_BYTES: usize = 16 << 10;
const GROUP_MAX_BYTES: usize = 1 << 20;

impl Tokenizer {
    /// Encodes many texts in parallel on the current rayon pool (the calling thread takes
    /// part: see [`Tokenizer::encode_batch_threads`]): the ids of all texts one after
    /// another, and `texts.len() + 1` offsets (text `i` is `ids[off[i]..off[i+1]]`).
    ///
    /// # Errors
    /// The first failing text's error, prefixed with its index; no partial output.
    pub fn encode_batch<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        policy: &SpecialPolicy<'_>,
    ) -> Result<(Vec<u32>, Vec<usize>)> {
        Ok(self.encode_batch_in(texts, policy, rayon::current_num_threads(), None)?.join())
    }

    /// [`Tokenizer::encode_batch`] on `threads` threads (0: the default, see
    /// [`crate::pools`]): the calling thread and the shared pool of `threads - 1`
    /// threads. (Not the pool of `threads`: its idle thread, woken too, spun between the
    /// batch's threads; on two cores, 98 involuntary context switches per call of 2 MiB,
    /// and 2 threads 1.63-1.99x one thread in the bench's batch section, against 1.76-1.95x
    /// and none with the smaller pool.) A batch of one group is encoded on the calling
    /// thread alone, and touches no pool.
    ///
    /// The caller works rather than handing the batch to a pool and waiting: a thread
    /// that wakes a pool and then sleeps leaves the scheduler free to wake the pool's
    /// threads on one core (Linux places a woken thread near its waker), and a batch on
    /// two threads could then run at one thread's speed, as measured on a 2-core VM
    /// about one call in three after the threads had idled. A running caller keeps its
    /// core busy, and the helpers take the groups it has not reached.
    pub(crate) fn encode_batch_threads<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        policy: &SpecialPolicy<'_>,
        threads: usize,
    ) -> Result<Parts> {
        let threads = crate::pools::pool_size(threads);
        if threads <= 1 || groups(texts, threads).len() <= 1 {
            return self.encode_batch_in(texts, policy, 1, None);
        }
        let pool = crate::pools::shared(threads - 1)?;
        self.encode_batch_in(texts, policy, threads, Some(pool))
    }

    /// The batch on the calling thread and at most `threads - 1` tasks of `pool` (the
    /// current rayon pool if `None`), each taking the next group of texts until none is
    /// left.
    fn encode_batch_in<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        policy: &SpecialPolicy<'_>,
        threads: usize,
        pool: Option<Arc<rayon::ThreadPool>>,
    ) -> Result<Parts> {
        #[allow(clippy::single_range_in_vec_init)] // one group: every text
        let groups = if threads <= 1 { vec![0..texts.len()] } else { groups(texts, threads) };
        let failed = AtomicUsize::new(usize::MAX);
        if let [range] = &groups[..] {
            // No parallelism to have, so no task to start (and no copy).
            return match self.encode_group(texts, range.clone(), policy, &failed) {
                Group::Done(ids, offsets) => {
                    Ok(Parts { parts: vec![(ids, offsets)], pool: None, threads: 1 })
                }
                Group::Failed(i, e) => Err(batch_error(i, &e)),
                Group::Stopped => unreachable!("a lone group stops only at a failure of its own"),
            };
        }
        let done: Vec<Mutex<Option<Group>>> = groups.iter().map(|_| Mutex::new(None)).collect();
        for_each_shared(pool.as_deref(), threads, groups.len(), &|g| {
            *lock(&done[g]) = Some(self.encode_group(texts, groups[g].clone(), policy, &failed));
        });
        // The first group that did not finish holds the first failing text: groups stop
        // only after a text later than a failure (see `encode_group`).
        let mut parts = Vec::with_capacity(done.len());
        for group in done {
            match group.into_inner().unwrap_or_else(PoisonError::into_inner) {
                Some(Group::Done(ids, offsets)) => parts.push((ids, offsets)),
                Some(Group::Failed(i, e)) => return Err(batch_error(i, &e)),
                Some(Group::Stopped) => {
                    unreachable!("a group stopped after a failure that no group reported")
                }
                None => unreachable!("every group is taken before the threads return"),
            }
        }
        Ok(Parts { parts, pool, threads })
    }

    /// Encodes `texts[range]` into one vector, with `range.len() + 1` offsets from 0.
    /// Records a failing text's index in `failed` (the least seen), and stops before a
    /// text later than the least failure recorded by any group: its result could not
    /// be returned. So a group never stops before a text at or before the first failure.
    fn encode_group<S: AsRef<str>>(
        &self,
        texts: &[S],
        range: Range<usize>,
        policy: &SpecialPolicy<'_>,
        failed: &AtomicUsize,
    ) -> Group {
        let bytes: usize = texts[range.clone()].iter().map(|t| t.as_ref().len()).sum();
        // About a token per 3 bytes (prose gives fewer): at most one regrowth usually.
        let mut ids = Vec::with_capacity(bytes / 3 + 16);
        let mut offsets = Vec::with_capacity(range.len() + 1);
        offsets.push(0);
        for i in range {
            if i > failed.load(Ordering::Relaxed) {
                return Group::Stopped;
            }
            let text = texts[i].as_ref();
            let result = self
                .check_disallowed(text, policy)
                .and_then(|()| self.encode_into(text, policy.allowed, &mut ids));
            if let Err(e) = result {
                failed.fetch_min(i, Ordering::Relaxed);
                return Group::Failed(i, e);
            }
            offsets.push(ids.len());
        }
        Group::Done(ids, offsets)
    }
}

/// A batch's ids as its groups left them: each group's ids, with offsets from 0 of its
/// texts' ids, in order. Joined by [`Parts::join`] or written by [`Parts::write`] into
/// the caller's buffer, on the threads that encoded them.
pub(crate) struct Parts {
    parts: Vec<(Vec<u32>, Vec<usize>)>,
    /// The pool that helped encode them (the current one if `None`) and the threads.
    pool: Option<Arc<rayon::ThreadPool>>,
    threads: usize,
}

impl Parts {
    /// The number of ids.
    pub(crate) fn len(&self) -> usize {
        self.parts.iter().map(|(ids, _)| ids.len()).sum()
    }

    /// The number of groups (each one id vector).
    pub(crate) fn groups(&self) -> usize {
        self.parts.len()
    }

    /// Each text's ids, in order.
    pub(crate) fn texts(&self) -> impl Iterator<Item = &[u32]> {
        self.parts.iter().flat_map(|(ids, offsets)| offsets.windows(2).map(move |w| &ids[w[0]..w[1]]))
    }

    /// The offsets of the joined ids: 0, then the end of each text's ids.
    pub(crate) fn offsets(&self) -> impl Iterator<Item = usize> + '_ {
        let mut base = 0;
        std::iter::once(0).chain(self.parts.iter().flat_map(move |(ids, offsets)| {
            let b = base;
            base += ids.len();
            offsets[1..].iter().map(move |o| b + o)
        }))
    }

    /// Writes the ids one after another into `out` ([`Parts::len`] ids of
    /// [`IdWord::PER_ID`] words), each group's on one of the batch's threads: serial,
    /// this copy would be a visible share of the call on many threads.
    ///
    /// # Panics
    /// If `out` has another length.
    pub(crate) fn write<W: IdWord>(&self, out: &mut [W]) {
        assert_eq!(out.len(), self.len() * W::PER_ID, "the output's length");
        if let [(ids, _)] = &self.parts[..] {
            return W::put(out, ids);
        }
        let mut slots = Vec::with_capacity(self.parts.len());
        let mut rest = out;
        for (part, _) in &self.parts {
            let (slot, tail) = rest.split_at_mut(part.len() * W::PER_ID);
            slots.push(Mutex::new(Some(slot)));
            rest = tail;
        }
        for_each_shared(self.pool.as_deref(), self.threads, self.parts.len(), &|i| {
            if let Some(slot) = lock(&slots[i]).take() {
                W::put(slot, &self.parts[i].0);
            }
        });
    }

    /// The ids one after another, and the offsets.
    pub(crate) fn join(mut self) -> (Vec<u32>, Vec<usize>) {
        let offsets = self.offsets().collect();
        if self.parts.len() == 1 {
            return (self.parts.swap_remove(0).0, offsets); // no copy
        }
        let mut ids = vec![0u32; self.len()];
        self.write(&mut ids);
        (ids, offsets)
    }
}

/// A word of a buffer that [`Parts::write`] fills: `u32` ids, or their native-endian
/// bytes in a host's new buffer.
pub(crate) trait IdWord: Send {
    /// Words per id.
    const PER_ID: usize;
    /// Writes `ids` into `out` (`ids.len() * PER_ID` words).
    fn put(out: &mut [Self], ids: &[u32])
    where
        Self: Sized;
}

impl IdWord for u32 {
    const PER_ID: usize = 1;
    fn put(out: &mut [u32], ids: &[u32]) {
        out.copy_from_slice(ids);
    }
}

/// Bytes not yet written (a new host buffer): each is written once.
impl IdWord for MaybeUninit<u8> {
    const PER_ID: usize = 4;
    fn put(out: &mut [MaybeUninit<u8>], ids: &[u32]) {
        for (out, id) in out.chunks_exact_mut(4).zip(ids) {
            for (byte, b) in out.iter_mut().zip(id.to_ne_bytes()) {
                byte.write(b);
            }
        }
    }
}

/// What became of a group of texts.
enum Group {
    /// Every text encoded: the ids, and offsets from 0.
    Done(Vec<u32>, Vec<usize>),
    /// Text `i` (of the whole batch) failed with this error.
    Failed(usize, Error),
    /// Stopped after a failure elsewhere, at an earlier text.
    Stopped,
}

/// `texts` cut into ranges of neighbouring texts, in order, each at least its target
/// size in bytes except the last: the bytes not yet in a group over `threads` times
/// [`GROUPS_PER_THREAD`], within [`GROUP_MIN_BYTES`]..=[`GROUP_MAX_BYTES`]. At least one
/// range (an empty one for no texts).
fn groups<S: AsRef<str>>(texts: &[S], threads: usize) -> Vec<Range<usize>> {
    let total: usize = texts.iter().map(|t| t.as_ref().len()).sum();
    let target =
        |left: usize| (left / (threads.max(1) * GROUPS_PER_THREAD)).clamp(GROUP_MIN_BYTES, GROUP_MAX_BYTES);
    let mut groups = Vec::new();
    let (mut start, mut bytes, mut left) = (0, 0, total);
    let mut want = target(left);
    for (i, text) in texts.iter().enumerate() {
        bytes += text.as_ref().len();
        if bytes >= want {
            groups.push(start..i + 1);
            left -= bytes;
            (start, bytes) = (i + 1, 0);
            want = target(left);
        }
    }
    if start < texts.len() || groups.is_empty() {
        groups.push(start..texts.len());
    }
    groups
}

/// Runs `work(i)` for each `i < items`, on the calling thread and on at most
/// `threads - 1` tasks of `pool` (the current rayon pool if `None`), each taking the next
/// `i` from a counter until none is left; returns when all have returned (a panic in any
/// is raised here). A task that starts after the others have taken every item returns at
/// once, but the caller still waits for it to start: behind another call's tasks on a
/// busy pool.
fn for_each_shared(
    pool: Option<&rayon::ThreadPool>,
    threads: usize,
    items: usize,
    work: &(dyn Fn(usize) + Sync),
) {
    let next = AtomicUsize::new(0);
    let take = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= items {
            return;
        }
        work(i);
    };
    let helpers = threads.min(items).saturating_sub(1);
    match pool {
        Some(pool) => pool.in_place_scope(|s| {
            (0..helpers).for_each(|_| s.spawn(|_| take()));
            take();
        }),
        None => rayon::in_place_scope(|s| {
            (0..helpers).for_each(|_| s.spawn(|_| take()));
            take();
        }),
    }
}

/// A slot's lock (a panic while it was held is raised by [`for_each_shared`] anyway).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Text `i` of a batch failed with `e`: the same error, its message prefixed `texts[i]: `.
fn batch_error(i: usize, e: &Error) -> Error {
    Error::new(e.kind(), format!("texts[{i}]: {}", e.message()))
}

#[cfg(test)]
mod tests {
    use super::super::testing::with_specials;
    use super::*;
    use crate::{Allowed, Disallowed};

    /// Texts of many sizes (empty ones too), in several groups on any thread count.
    fn texts() -> Vec<String> {
        let words = ["ab", "abc", " aaaa", "ca", "\n", " xy", "é", "<|end", "|>", "  "];
        (0..600usize)
            .map(|i| (0..(i * 37) % 211).map(|j| words[(i + j * 7) % words.len()]).collect::<String>())
            .chain(["a".repeat(3 * GROUP_MIN_BYTES), String::new()])
            .collect()
    }

    fn on_threads<T: Send>(n: usize, f: impl FnOnce() -> T + Send) -> T {
        rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap().install(f)
    }

    #[test]
    fn equals_encoding_each_text() {
        let t = with_specials();
        let mut texts = texts();
        texts.insert(300, "x<|end|>y<s>ab<|end|>x".into()); // special-token text, allowed or not
        assert!(groups(&texts, 1).len() > 2, "the texts must make several groups");
        for policy in
            [SpecialPolicy::ORDINARY, SpecialPolicy { allowed: Allowed::All, disallowed: Disallowed::None }]
        {
            let mut expect = Vec::new();
            let mut offsets = vec![0];
            for text in &texts {
                expect.extend(t.encode_with(text, &policy).unwrap());
                offsets.push(expect.len());
            }
            for threads in [1, 2, 4] {
                let got = on_threads(threads, || t.encode_batch(&texts, &policy).unwrap());
                assert_eq!(got, (expect.clone(), offsets.clone()), "{threads} threads");
            }
        }
        assert_eq!(t.encode_batch::<&str>(&[], &SpecialPolicy::DEFAULT).unwrap(), (vec![], vec![0]));
        assert_eq!(t.encode_batch(&[""], &SpecialPolicy::DEFAULT).unwrap(), (vec![], vec![0, 0]));
        assert_eq!(t.encode_batch(&["", ""], &SpecialPolicy::DEFAULT).unwrap(), (vec![], vec![0, 0, 0]));
    }

    #[test]
    fn any_thread_count_from_outside_a_pool() {
        let t = with_specials();
        let texts = texts();
        let policy = SpecialPolicy::ORDINARY;
        let expect = on_threads(2, || t.encode_batch(&texts, &policy).unwrap());
        assert!(groups(&texts, 2).len() > 1);
        // The calling thread (not a pool's) with 0..3 threads of a shared pool; one
        // group (a small batch) on the calling thread alone, however many are asked for.
        for threads in [1, 2, 3, 4, 0] {
            let parts = t.encode_batch_threads(&texts, &policy, threads).unwrap();
            // Every view of the parts is the joined batch's.
            assert_eq!(parts.len(), expect.0.len());
            assert_eq!(parts.offsets().collect::<Vec<_>>(), expect.1, "{threads} threads");
            let each: Vec<&[u32]> = expect.1.windows(2).map(|w| &expect.0[w[0]..w[1]]).collect();
            assert_eq!(parts.texts().collect::<Vec<_>>(), each, "{threads} threads");
            let mut bytes = vec![MaybeUninit::<u8>::uninit(); parts.len() * 4];
            parts.write(&mut bytes);
            // SAFETY: `write` wrote every byte (the length is checked above).
            #[allow(unsafe_code)]
            let bytes: Vec<u8> = bytes.iter().map(|b| unsafe { b.assume_init() }).collect();
            let words: Vec<u32> =
                bytes.chunks(4).map(|b| u32::from_ne_bytes(b.try_into().unwrap())).collect();
            assert_eq!(words, expect.0, "{threads} threads");
            assert_eq!(parts.join(), expect, "{threads} threads");
        }
        let small = &texts[..20];
        assert_eq!(groups(small, 64).len(), 1);
        let expect = on_threads(2, || t.encode_batch(small, &policy).unwrap());
        assert_eq!(t.encode_batch_threads(small, &policy, 64).unwrap().join(), expect);
        let Err(e) = t.encode_batch_threads(&["<s>"], &SpecialPolicy::DEFAULT, 2) else { panic!("no error") };
        assert!(e.message().starts_with("texts[0]: "), "{}", e.message());
    }

    #[test]
    fn the_first_failing_text_is_named() {
        let t = with_specials();
        let mut texts = texts();
        let n = texts.len();
        // Failures in a late group and in an early one: the early one is reported,
        // whichever thread gets there first.
        for bad in [n - 3, n / 2, 5, 0] {
            texts[bad] = format!("ab{}<s>", texts[bad]);
            for threads in [1, 2, 4] {
                let in_pool =
                    on_threads(threads, || t.encode_batch(&texts, &SpecialPolicy::DEFAULT).unwrap_err());
                let Err(outside) = t.encode_batch_threads(&texts, &SpecialPolicy::DEFAULT, threads) else {
                    panic!("no error")
                };
                for e in [in_pool, outside] {
                    assert_eq!(e.kind(), crate::ErrorKind::DisallowedSpecial);
                    assert!(
                        e.message().starts_with(&format!("texts[{bad}]: ")),
                        "{threads} threads: {}",
                        e.message()
                    );
                }
            }
        }
        let e = t.encode_batch(&["<s>"], &SpecialPolicy::DEFAULT).unwrap_err();
        assert!(e.message().starts_with("texts[0]: "), "{}", e.message());
    }

    #[test]
    fn groups_cover_the_texts_in_order() {
        for threads in [1, 2, 4, 64] {
            for sizes in [
                vec![],
                vec![0],
                vec![0; 5],
                vec![10; 7],
                vec![GROUP_MIN_BYTES; 9],
                vec![3 * GROUP_MAX_BYTES, 1, 5],
            ] {
                let texts: Vec<String> = sizes.iter().map(|&n| "a".repeat(n)).collect();
                let g = groups(&texts, threads);
                assert!(!g.is_empty());
                assert_eq!(g[0].start, 0);
                assert_eq!(g[g.len() - 1].end, texts.len());
                for w in g.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                    assert!(!w[0].is_empty());
                }
            }
        }
        // Many small texts: groups that shrink from the first share of the bytes down to
        // the least size, each at least that but the last.
        let texts = vec!["x".repeat(1000); 4000];
        let g = groups(&texts, 2);
        let bytes = |r: &Range<usize>| r.len() * 1000;
        assert_eq!(bytes(&g[0]), 4_000_000 / (2 * GROUPS_PER_THREAD));
        assert!(g.windows(2).take(g.len() - 2).all(|w| bytes(&w[1]) <= bytes(&w[0])), "{g:?}");
        assert!(g[..g.len() - 1].iter().all(|r| bytes(r) >= GROUP_MIN_BYTES), "{g:?}");
        assert!(bytes(&g[g.len() - 2]) < GROUP_MIN_BYTES + 1000, "{g:?}");
        assert_eq!(groups(&texts[..10], 2).len(), 1);
    }
}
