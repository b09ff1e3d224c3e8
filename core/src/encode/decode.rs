//! Ids back to bytes, and the ranks out in tiktoken's format.

use super::Tokenizer;
use crate::error::{Error, ErrorKind, Result};
use crate::ranks;

impl Tokenizer {
    /// Decodes ids to bytes (which need not be valid UTF-8).
    ///
    /// # Errors
    /// [`ErrorKind::UnknownToken`] naming the first id that is not a token.
    pub fn decode(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            let bytes = self.token_bytes(id).ok_or_else(|| {
                Error::new(ErrorKind::UnknownToken, format!("token id {id} is not in the vocabulary"))
            })?;
            out.extend_from_slice(bytes);
        }
        Ok(out)
    }

    /// The ranks in tiktoken's `.tiktoken` format, sorted by rank.
    pub fn export_tiktoken(&self) -> Vec<u8> {
        ranks::write_tiktoken(self.tokens())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn unknown_id_is_an_error() {
        let e = toy().decode(&[97, 99999]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownToken);
        assert!(e.message().contains("99999"));
    }

    proptest! {
        #[test]
        fn roundtrip_any_text(s in "\\PC*") {
            let t = toy();
            let ids = t.encode_ordinary(&s).unwrap();
            prop_assert_eq!(t.decode(&ids).unwrap(), s.as_bytes());
        }
    }
}
