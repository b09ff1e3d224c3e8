//! bpekit's own tokenizer file: one self-describing, versioned, checksummed file with
//! the pattern, the ranks and the special tokens, framed by [`crate::framing`]. The
//! layout is documented on [`Tokenizer::to_bytes`].
//!
//! Saving writes a temporary file in the same directory, syncs it and renames it over
//! the target, so a crash or a full disk never leaves a half-written tokenizer behind.
//! Loading checks everything: the frame (magic, version, checksum), every length and
//! count, then the same rules as building a tokenizer from ranks (see
//! [`Tokenizer::from_ranks`]).

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::encode::{Normalization, Tokenizer};
use crate::error::{Error, ErrorKind, Result};
use crate::framing::{open_versions, Format};
use crate::pattern::Pattern;

/// bpekit's tokenizer file, version 1: a tokenizer without normalization.
const TOKENIZER_FILE_V1: Format = Format { magic: b"BPEKITTK", version: 1, name: "tokenizer file" };
/// Version 2: version 1 with the normalization (written only for a tokenizer that has
/// one, so that every other file stays readable by bpekit versions that read only 1).
const TOKENIZER_FILE_V2: Format = Format { magic: b"BPEKITTK", version: 2, name: "tokenizer file" };

/// The normalization's code in a version 2 file.
fn normalization_code(n: Normalization) -> u32 {
    match n {
        Normalization::None => 0,
        Normalization::Nfc => 1,
    }
}

fn too_large() -> Error {
    Error::invalid_arg("tokenizer too large for the file format")
}

impl Tokenizer {
    /// Serializes the tokenizer in bpekit's file format, what [`Tokenizer::save`] writes.
    ///
    /// Layout, little-endian; equal tokenizers give equal bytes:
    /// ```text
    /// magic     8 bytes     "BPEKITTK"
    /// version   u32         1, or 2 for a tokenizer that normalizes
    /// normalize u32         version 2 only: 1 = NFC
    /// pattern   u32 length, UTF-8
    /// n_ranks   u32, then per rank in id order: id u32, length u32, bytes
    /// n_special u32, then per special token in id order: id u32, length u32, UTF-8
    /// checksum  u64         64-bit FNV-1a of everything before it
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArg`] only for a tokenizer too large for 32-bit lengths.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let capacity = self.vocab_size() * 12 + 256;
        let mut w = match self.normalization() {
            Normalization::None => TOKENIZER_FILE_V1.writer(capacity),
            n => {
                let mut w = TOKENIZER_FILE_V2.writer(capacity);
                w.put(normalization_code(n));
                w
            }
        };
        let pattern = self.pattern().as_str().as_bytes();
        w.len_u32(pattern.len(), too_large)?;
        w.bytes(pattern);
        let ranks: Vec<(&[u8], u32)> = self.tokens().collect();
        w.len_u32(ranks.len(), too_large)?;
        for (bytes, id) in ranks {
            w.put(id);
            w.len_u32(bytes.len(), too_large)?;
            w.bytes(bytes);
        }
        w.len_u32(self.special_tokens().len(), too_large)?;
        for (text, id) in self.special_tokens() {
            w.put(id);
            w.len_u32(text.len(), too_large)?;
            w.bytes(text.as_bytes());
        }
        Ok(w.finish())
    }

    /// Reads [`Tokenizer::to_bytes`]'s output, validating everything.
    ///
    /// # Errors
    /// [`ErrorKind::BadFormat`] for data that is not a bpekit tokenizer, of another
    /// version, truncated or corrupted; [`ErrorKind::BadPattern`], [`ErrorKind::BadRanks`],
    /// [`ErrorKind::InvalidArg`] if its content is not a valid tokenizer.
    pub fn from_bytes(data: &[u8]) -> Result<Tokenizer> {
        let (version, mut r) = open_versions(&[TOKENIZER_FILE_V1, TOKENIZER_FILE_V2], data)?;
        let f = TOKENIZER_FILE_V2;
        let normalization = match version {
            1 => Normalization::None,
            _ => match r.read::<u32>()? {
                1 => Normalization::Nfc,
                n => return Err(f.error(format!("unknown normalization {n}"))),
            },
        };
        let pattern = std::str::from_utf8(r.bytes_u32()?).map_err(|_| f.error("the pattern is not UTF-8"))?;
        let pattern = Pattern::new(pattern)?;
        // Each rank and each special token takes at least 9 bytes.
        let n: u32 = r.read()?;
        let n = r.count(u64::from(n), 9, || f.error("rank count exceeds the data"))?;
        let mut ranks = Vec::with_capacity(n);
        for _ in 0..n {
            let id: u32 = r.read()?;
            ranks.push((r.bytes_u32()?.to_vec(), id));
        }
        let n: u32 = r.read()?;
        let n = r.count(u64::from(n), 9, || f.error("special token count exceeds the data"))?;
        let mut specials = Vec::with_capacity(n);
        for _ in 0..n {
            let id: u32 = r.read()?;
            let text =
                std::str::from_utf8(r.bytes_u32()?).map_err(|_| f.error("a special token is not UTF-8"))?;
            specials.push((text.to_owned(), id));
        }
        if r.remaining() != 0 {
            return Err(f.error("trailing bytes"));
        }
        Ok(Tokenizer::from_ranks(ranks, pattern)?
            .with_special_tokens(specials)?
            .with_normalization(normalization))
    }

    /// Saves the tokenizer to `path` atomically: the file is either the complete new
    /// tokenizer or, on any failure, whatever was there before.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] naming the path and the operation that failed.
    pub fn save(&self, path: &Path) -> Result<()> {
        let data = self.to_bytes()?;
        let io = |what: &str, e: std::io::Error| {
            Error::new(ErrorKind::Io, format!("cannot save tokenizer to {}: {what}: {e}", path.display()))
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name =
            path.file_name().ok_or_else(|| io("no file name", std::io::ErrorKind::InvalidInput.into()))?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}-{}",
            name.to_string_lossy(),
            std::process::id(),
            crate::encode::unique_id()
        ));
        let result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| io("create", e))?;
            f.write_all(&data).map_err(|e| io("write", e))?;
            f.sync_all().map_err(|e| io("sync", e))?;
            drop(f);
            fs::rename(&tmp, path).map_err(|e| io("rename", e))?;
            // Make the rename itself durable (best effort: not every platform can open a dir).
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Loads a tokenizer saved by [`Tokenizer::save`].
    ///
    /// # Errors
    /// [`ErrorKind::Io`] if the file cannot be read; otherwise as [`Tokenizer::from_bytes`].
    pub fn load(path: &Path) -> Result<Tokenizer> {
        let data = fs::read(path).map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot read tokenizer file {}: {e}", path.display()))
        })?;
        Tokenizer::from_bytes(&data)
            .map_err(|e| Error::new(e.kind(), format!("{}: {}", path.display(), e.message())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Trainer;

    fn sample() -> Tokenizer {
        let mut t = Trainer::new(Pattern::default_pattern());
        t.feed("the cat sat on the mat; the dog sat on the log").unwrap();
        t.set_special_tokens(vec!["<|bos|>".into(), "<|eos|>".into()]).unwrap();
        t.finish(300).unwrap()
    }

    #[test]
    fn roundtrip_bytes_and_file() {
        let tok = sample();
        let bytes = tok.to_bytes().unwrap();
        let back = Tokenizer::from_bytes(&bytes).unwrap();
        assert_eq!(back.to_bytes().unwrap(), bytes);
        assert_eq!(back.special_token_id("<|eos|>"), tok.special_token_id("<|eos|>"));
        let dir = std::env::temp_dir().join(format!("bpekit-file-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tok.bpekit");
        tok.save(&path).unwrap();
        assert_eq!(Tokenizer::load(&path).unwrap().to_bytes().unwrap(), bytes);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn normalization_is_saved_in_version_2() {
        let tok = sample();
        assert_eq!(tok.to_bytes().unwrap()[8], 1);
        let nfc = tok.with_normalization(Normalization::Nfc);
        let bytes = nfc.to_bytes().unwrap();
        assert_eq!(bytes[8..16], [2, 0, 0, 0, 1, 0, 0, 0]);
        let back = Tokenizer::from_bytes(&bytes).unwrap();
        assert_eq!(back.normalization(), Normalization::Nfc);
        assert_eq!(back.to_bytes().unwrap(), bytes);
        assert_eq!(back.encode_ordinary("cafe\u{301}").unwrap(), back.encode_ordinary("café").unwrap());
        let mut unknown = bytes.clone();
        unknown[12] = 7;
        let n = unknown.len() - 8;
        let sum = crate::framing::checksum(&unknown[..n]);
        unknown[n..].copy_from_slice(&sum.to_le_bytes());
        let e = Tokenizer::from_bytes(&unknown).unwrap_err();
        assert_eq!(
            (e.kind(), e.message()),
            (ErrorKind::BadFormat, "tokenizer file: unknown normalization 7")
        );
    }

    #[test]
    fn every_damage_is_a_clear_error() {
        let bytes = sample().to_bytes().unwrap();
        for cut in [0, 4, 8, 12, 20, bytes.len() / 2, bytes.len() - 1] {
            let e = Tokenizer::from_bytes(&bytes[..cut]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BadFormat, "cut at {cut}: {e}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(Tokenizer::from_bytes(&b).is_err(), "flip at {i} accepted");
        }
        let mut v3 = bytes.clone();
        v3[8] = 3;
        let e = Tokenizer::from_bytes(&v3).unwrap_err();
        assert!(e.message().contains("version 3; this bpekit reads versions 1 and 2"), "{e}");
        let e = Tokenizer::from_bytes(b"IQ== 0\n").unwrap_err();
        assert!(e.message().contains("not a bpekit tokenizer"));
    }

    #[test]
    fn failed_save_leaves_the_old_file() {
        let dir = std::env::temp_dir().join(format!("bpekit-file-test2-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tok.bpekit");
        fs::write(&path, b"old").unwrap();
        // Saving onto a directory path fails at rename; the old file stays, no temp left.
        let target = dir.join("sub");
        fs::create_dir_all(target.join("x")).unwrap();
        let e = sample().save(&target).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{e}");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
        let e = Tokenizer::load(&dir.join("missing")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        fs::remove_dir_all(&dir).unwrap();
    }
}
