//! bpekit's own tokenizer file: one self-describing, versioned, checksummed file with
//! the pattern, the ranks and the special tokens.
//!
//! Layout (little-endian):
//! ```text
//! "BPEKITTK"            8 bytes, magic
//! version   u32         FILE_VERSION
//! pattern   u32 len + UTF-8
//! n_ranks   u32, then per rank in id order: id u32, len u32, bytes
//! n_special u32, then per special token in id order: id u32, len u32, UTF-8
//! checksum  u64         FNV-1a of everything before it
//! ```
//! Saving writes a temporary file in the same directory, syncs it and renames it over
//! the target, so a crash or a full disk never leaves a half-written tokenizer behind.
//! Loading checks everything: magic, version, lengths, checksum, then the same rules as
//! building a tokenizer from ranks (see [`Tokenizer::from_ranks`]).

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::encode::Tokenizer;
use crate::error::{Error, ErrorKind, Result};
use crate::pattern::Pattern;
use crate::train::{checksum, Reader};

/// First bytes of a bpekit tokenizer file.
pub const FILE_MAGIC: &[u8; 8] = b"BPEKITTK";
/// The format version this bpekit writes and reads.
pub const FILE_VERSION: u32 = 1;

fn push_u32(out: &mut Vec<u8>, v: usize) -> Result<()> {
    let v = u32::try_from(v).map_err(|_| Error::invalid_arg("tokenizer too large for the file format"))?;
    out.extend_from_slice(&v.to_le_bytes());
    Ok(())
}

impl Tokenizer {
    /// Serializes the tokenizer in bpekit's file format (see the module docs).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArg`] only for a tokenizer too large for 32-bit lengths.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.vocab_size() * 12 + 256);
        out.extend_from_slice(FILE_MAGIC);
        out.extend_from_slice(&FILE_VERSION.to_le_bytes());
        push_u32(&mut out, self.pattern().as_str().len())?;
        out.extend_from_slice(self.pattern().as_str().as_bytes());
        let ranks: Vec<(&[u8], u32)> = self.tokens().collect();
        push_u32(&mut out, ranks.len())?;
        for (bytes, id) in ranks {
            out.extend_from_slice(&id.to_le_bytes());
            push_u32(&mut out, bytes.len())?;
            out.extend_from_slice(bytes);
        }
        push_u32(&mut out, self.special_tokens().len())?;
        for (text, id) in self.special_tokens() {
            out.extend_from_slice(&id.to_le_bytes());
            push_u32(&mut out, text.len())?;
            out.extend_from_slice(text.as_bytes());
        }
        let sum = checksum(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        Ok(out)
    }

    /// Reads [`Tokenizer::to_bytes`]'s output, validating everything.
    ///
    /// # Errors
    /// [`ErrorKind::BadFormat`] for data that is not a bpekit tokenizer, of another
    /// version, truncated or corrupted; [`ErrorKind::BadPattern`], [`ErrorKind::BadRanks`],
    /// [`ErrorKind::InvalidArg`] if its content is not a valid tokenizer.
    pub fn from_bytes(data: &[u8]) -> Result<Tokenizer> {
        if data.len() < FILE_MAGIC.len() || &data[..FILE_MAGIC.len()] != FILE_MAGIC {
            return Err(Error::bad_format("not a bpekit tokenizer file (bad magic bytes)"));
        }
        if data.len() < FILE_MAGIC.len() + 4 + 8 {
            return Err(Error::bad_format("tokenizer file: truncated"));
        }
        let (body, sum) = data.split_at(data.len() - 8);
        let mut r = Reader { data: body, at: FILE_MAGIC.len() };
        let version = r.u32()?;
        if version != FILE_VERSION {
            return Err(Error::bad_format(format!(
                "tokenizer file format version {version}; this bpekit reads version {FILE_VERSION}"
            )));
        }
        if u64::from_le_bytes(sum.try_into().unwrap_or([0; 8])) != checksum(body) {
            return Err(Error::bad_format("tokenizer file: checksum mismatch (truncated or corrupted)"));
        }
        let len = r.u32()? as usize;
        let pattern = std::str::from_utf8(r.take(len)?)
            .map_err(|_| Error::bad_format("tokenizer file: the pattern is not UTF-8"))?;
        let pattern = Pattern::new(pattern)?;
        let n = r.u32()? as usize;
        if n > body.len() / 9 {
            return Err(Error::bad_format("tokenizer file: rank count exceeds the data"));
        }
        let mut ranks = Vec::with_capacity(n);
        for _ in 0..n {
            let id = r.u32()?;
            let len = r.u32()? as usize;
            ranks.push((r.take(len)?.to_vec(), id));
        }
        let n = r.u32()? as usize;
        if n > body.len() / 9 {
            return Err(Error::bad_format("tokenizer file: special token count exceeds the data"));
        }
        let mut specials = Vec::with_capacity(n);
        for _ in 0..n {
            let id = r.u32()?;
            let len = r.u32()? as usize;
            let text = std::str::from_utf8(r.take(len)?)
                .map_err(|_| Error::bad_format("tokenizer file: a special token is not UTF-8"))?;
            specials.push((text.to_owned(), id));
        }
        if r.at != body.len() {
            return Err(Error::bad_format("tokenizer file: trailing bytes"));
        }
        Tokenizer::from_ranks(ranks, pattern)?.with_special_tokens(specials)
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
        let mut v2 = bytes.clone();
        v2[8] = 2;
        assert!(Tokenizer::from_bytes(&v2).unwrap_err().message().contains("version 2"));
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
