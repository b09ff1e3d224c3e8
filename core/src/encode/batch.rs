//! Encoding many texts in parallel.

use super::{SpecialPolicy, Tokenizer};
use crate::error::{Error, Result};

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
        use rayon::prelude::*;
        match texts {
            // No parallelism to have, so no pool to enter (and wake).
            [] => return Ok((Vec::new(), vec![0])),
            [text] => {
                let ids = self.encode_with(text.as_ref(), policy).map_err(|e| batch_error(0, &e))?;
                let n = ids.len();
                return Ok((ids, vec![0, n]));
            }
            _ => {}
        }
        let results: Vec<Result<Vec<u32>>> =
            texts.par_iter().map(|t| self.encode_with(t.as_ref(), policy)).collect();
        let mut parts = Vec::with_capacity(results.len());
        for (i, r) in results.into_iter().enumerate() {
            // The first failing text in order, whichever thread failed first.
            parts.push(r.map_err(|e| batch_error(i, &e))?);
        }
        let mut offsets = Vec::with_capacity(parts.len() + 1);
        offsets.push(0);
        for p in &parts {
            offsets.push(offsets[offsets.len() - 1] + p.len());
        }
        // Copy the parts into place in parallel too: serial, this copy is a visible share
        // of a batch call on many threads.
        let mut ids = vec![0u32; offsets[parts.len()]];
        let mut slots = Vec::with_capacity(parts.len());
        let mut rest = &mut ids[..];
        for p in &parts {
            let (slot, tail) = rest.split_at_mut(p.len());
            slots.push(slot);
            rest = tail;
        }
        slots.into_par_iter().zip(parts.par_iter()).for_each(|(slot, p)| slot.copy_from_slice(p));
        Ok((ids, offsets))
    }
}

/// Text `i` of a batch failed with `e`: the same error, its message prefixed `texts[i]: `.
fn batch_error(i: usize, e: &Error) -> Error {
    Error::new(e.kind(), format!("texts[{i}]: {}", e.message()))
}
