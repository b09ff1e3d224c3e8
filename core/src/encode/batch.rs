//! Encoding many texts in parallel.
//!
//! The texts are cut into groups of neighbouring texts of about equal bytes, a few groups
//! per thread; each group is one rayon task that encodes its texts one after another
//! into one id vector with its own offsets, and the groups' results are stitched in
//! order. So the cost per text is a push of an offset, not a task, an allocation and a
//! copy: a batch of paragraph-sized texts costs per byte what one long text does.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{SpecialPolicy, Tokenizer};
use crate::error::{Error, Result};

/// Groups per pool thread: enough for the threads to even out texts that encode at
/// different speeds (the last group to finish bounds the call), few enough that each
/// group is long next to a task's start.
const GROUPS_PER_THREAD: usize = 4;
/// Bytes of text per group, at least (a smaller batch runs on fewer threads) and at most
/// (a large batch gets more groups, so none holds a large share of the ids at once).
const GROUP_MIN_BYTES: usize = 16 << 10;
const GROUP_MAX_BYTES: usize = 1 << 20;

impl Tokenizer {
    /// Encodes many texts in parallel (on the current rayon pool): the ids of all texts
    /// one after another, and `texts.len() + 1` offsets (text `i` is `ids[off[i]..off[i+1]]`).
    ///
    /// # Errors
    /// The first failing text's error, prefixed with its index; no partial output.
    pub fn encode_batch<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        policy: &SpecialPolicy<'_>,
    ) -> Result<(Vec<u32>, Vec<usize>)> {
        self.encode_batch_on(texts, policy, rayon::current_num_threads())
    }

    /// Whether [`Tokenizer::encode_batch`] on `threads` threads makes one group of
    /// `texts`, encoded on the calling thread: a caller outside a pool can then skip
    /// entering one (a thread handoff) and call [`Tokenizer::encode_batch_on`] there.
    pub(crate) fn batch_is_serial<S: AsRef<str>>(texts: &[S], threads: usize) -> bool {
        threads <= 1 || groups(texts, threads).len() <= 1
    }

    /// [`Tokenizer::encode_batch`] for a pool of `threads` threads, called inside that
    /// pool; with one group (see [`Tokenizer::batch_is_serial`]), on the calling thread,
    /// in a pool or not (it touches none).
    pub(crate) fn encode_batch_on<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        policy: &SpecialPolicy<'_>,
        threads: usize,
    ) -> Result<(Vec<u32>, Vec<usize>)> {
        use rayon::prelude::*;
        #[allow(clippy::single_range_in_vec_init)] // one group: every text
        let groups = if threads <= 1 { vec![0..texts.len()] } else { groups(texts, threads) };
        let failed = AtomicUsize::new(usize::MAX);
        if let [range] = &groups[..] {
            // No parallelism to have, so no task to start (and no copy).
            return match self.encode_group(texts, range.clone(), policy, &failed) {
                Group::Done(ids, offsets) => Ok((ids, offsets)),
                Group::Failed(i, e) => Err(batch_error(i, &e)),
                Group::Stopped => unreachable!("a lone group stops only at a failure of its own"),
            };
        }
        // One task per group (rayon would otherwise hand a thread several at once).
        let done: Vec<Group> = groups
            .into_par_iter()
            .with_max_len(1)
            .map(|range| self.encode_group(texts, range, policy, &failed))
            .collect();
        // The first group that did not finish holds the first failing text: groups stop
        // only after a text later than a failure (see `encode_group`).
        let mut parts = Vec::with_capacity(done.len());
        for group in done {
            match group {
                Group::Done(ids, offsets) => parts.push((ids, offsets)),
                Group::Failed(i, e) => return Err(batch_error(i, &e)),
                Group::Stopped => unreachable!("a group stopped after a failure that no group reported"),
            }
        }
        let total: usize = parts.iter().map(|(ids, _)| ids.len()).sum();
        let mut offsets = Vec::with_capacity(texts.len() + 1);
        offsets.push(0);
        let mut base = 0;
        for (ids, offs) in &parts {
            offsets.extend(offs[1..].iter().map(|o| base + o));
            base += ids.len();
        }
        // Copy the groups' ids into place in parallel: serial, this copy would be a
        // visible share of the call on many threads.
        let mut ids = vec![0u32; total];
        let mut slots = Vec::with_capacity(parts.len());
        let mut rest = &mut ids[..];
        for (part, _) in &parts {
            let (slot, tail) = rest.split_at_mut(part.len());
            slots.push(slot);
            rest = tail;
        }
        slots.into_par_iter().zip(parts.par_iter()).for_each(|(slot, (part, _))| slot.copy_from_slice(part));
        Ok((ids, offsets))
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

/// What became of a group of texts.
enum Group {
    /// Every text encoded: the ids, and offsets from 0.
    Done(Vec<u32>, Vec<usize>),
    /// Text `i` (of the whole batch) failed with this error.
    Failed(usize, Error),
    /// Stopped after a failure elsewhere, at an earlier text.
    Stopped,
}

/// `texts` cut into ranges of neighbouring texts, in order, each at least the target
/// size in bytes except the last: about [`GROUPS_PER_THREAD`] per thread, within
/// [`GROUP_MIN_BYTES`]..=[`GROUP_MAX_BYTES`]. At least one range (an empty one for no texts).
fn groups<S: AsRef<str>>(texts: &[S], threads: usize) -> Vec<Range<usize>> {
    let total: usize = texts.iter().map(|t| t.as_ref().len()).sum();
    let target = (total / (threads.max(1) * GROUPS_PER_THREAD)).clamp(GROUP_MIN_BYTES, GROUP_MAX_BYTES);
    let mut groups = Vec::with_capacity(total / target + 1);
    let (mut start, mut bytes) = (0, 0);
    for (i, text) in texts.iter().enumerate() {
        bytes += text.as_ref().len();
        if bytes >= target {
            groups.push(start..i + 1);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < texts.len() || groups.is_empty() {
        groups.push(start..texts.len());
    }
    groups
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
    fn one_thread_or_one_group_runs_here() {
        let t = with_specials();
        let texts = texts();
        let policy = SpecialPolicy::ORDINARY;
        let expect = on_threads(2, || t.encode_batch(&texts, &policy).unwrap());
        assert!(Tokenizer::batch_is_serial(&texts, 1) && !Tokenizer::batch_is_serial(&texts, 2));
        // Not in any pool: serial runs must not need one (nor start rayon's global pool).
        assert_eq!(t.encode_batch_on(&texts, &policy, 1).unwrap(), expect);
        let small = &texts[..20];
        assert!(Tokenizer::batch_is_serial(small, 64));
        let expect = on_threads(2, || t.encode_batch(small, &policy).unwrap());
        assert_eq!(t.encode_batch_on(small, &policy, 64).unwrap(), expect);
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
                let e = on_threads(threads, || t.encode_batch(&texts, &SpecialPolicy::DEFAULT).unwrap_err());
                assert_eq!(e.kind(), crate::ErrorKind::DisallowedSpecial);
                assert!(
                    e.message().starts_with(&format!("texts[{bad}]: ")),
                    "{threads} threads: {}",
                    e.message()
                );
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
        // Many small texts make groups of about the target size, a few per thread.
        let texts = vec!["x".repeat(1000); 4000];
        assert_eq!(groups(&texts, 2).len(), 2 * GROUPS_PER_THREAD);
        assert_eq!(groups(&texts[..10], 2).len(), 1);
    }
}
