//! Binary framing for every bpekit binary format: bounds-checked little-endian reading
//! and writing, and the frame around bpekit's own formats.
//!
//! # The frame
//!
//! bpekit's own formats (the tokenizer file, the count table) are one frame each:
//! ```text
//! magic     8 bytes     names the format
//! version   u32         the format's version
//! body      ...         the format's content
//! checksum  u64         FNV-1a of everything before it
//! ```
//! all little-endian. A [`Format`] names one format; [`Format::writer`] starts a frame,
//! [`Writer::finish`] seals it, and [`Format::open`] checks one, in this order: the
//! magic, the length (room for magic, version and checksum), the version, the checksum,
//! and returns a [`Reader`] over the body. The version is checked before the checksum
//! so that a file of another version is reported as such, even if that version
//! checksums differently.
//! The checksum catches truncation and corruption, not an adversary: the body is still
//! parsed as untrusted, every length bounded by the data left ([`Reader::take`]) and
//! every count by what the data could hold ([`Reader::count`]), before anything is
//! allocated from it.
//!
//! # Formats with a fixed-size header
//!
//! [`Reader`] and [`Writer`] do not need a frame: a format whose header is a run of
//! fixed-width fields (a magic number and a version at the start, then sizes) writes it
//! with [`Writer::put`] on a `Writer::default()` and reads it with [`Reader::new`] and
//! [`Reader::read`], and its fixed-width arrays with [`Writer::put_all`] /
//! [`Reader::array`].
//!
//! # Errors
//!
//! Every failure is [`ErrorKind::BadFormat`](crate::ErrorKind::BadFormat), with a message
//! that names the format (`"tokenizer file: checksum mismatch ..."`), except the generic
//! "truncated data" of a [`Reader`] running past its end.

use crate::error::{Error, Result};

/// FNV-1a, 64-bit: enough to catch truncation and corruption (not an adversary).
pub(crate) fn checksum(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Bytes of a frame around its body: magic, version, checksum.
const OVERHEAD: usize = 8 + 4 + 8;

/// One framed format: its magic, the version this bpekit reads and writes, and its name
/// in messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Format {
    /// The first 8 bytes of every frame of this format.
    pub(crate) magic: &'static [u8; 8],
    /// The only version read, and the one written.
    pub(crate) version: u32,
    /// What the format is called in messages: "tokenizer file", "count table".
    pub(crate) name: &'static str,
}

impl Format {
    /// A [`ErrorKind::BadFormat`](crate::ErrorKind::BadFormat) error `"<name>: <detail>"`.
    pub(crate) fn error(&self, detail: impl std::fmt::Display) -> Error {
        Error::bad_format(format!("{}: {detail}", self.name))
    }

    /// A frame of this format with room for `capacity` body bytes, magic and version
    /// written.
    pub(crate) fn writer(&self, capacity: usize) -> Writer {
        let mut w = Writer { out: Vec::with_capacity(capacity.saturating_add(OVERHEAD)) };
        w.bytes(self.magic);
        w.put(self.version);
        w
    }

    /// Checks a frame of this format (see the module docs for what and in which order)
    /// and returns a reader over its body.
    ///
    /// # Errors
    /// [`ErrorKind::BadFormat`](crate::ErrorKind::BadFormat): `"not a bpekit <name> (bad
    /// magic bytes)"`, `"<name>: truncated"`, `"<name> format version <v>; this bpekit
    /// reads version <version>"`, `"<name>: checksum mismatch (truncated or corrupted)"`.
    pub(crate) fn open<'a>(&self, data: &'a [u8]) -> Result<Reader<'a>> {
        if !data.starts_with(self.magic) {
            return Err(Error::bad_format(format!("not a bpekit {} (bad magic bytes)", self.name)));
        }
        if data.len() < OVERHEAD {
            return Err(self.error("truncated"));
        }
        let (framed, sum) = data.split_at(data.len() - 8);
        let mut r = Reader::new(framed);
        r.take(self.magic.len())?;
        let version: u32 = r.read()?;
        if version != self.version {
            return Err(Error::bad_format(format!(
                "{} format version {version}; this bpekit reads version {}",
                self.name, self.version
            )));
        }
        if Reader::new(sum).read::<u64>()? != checksum(framed) {
            return Err(self.error("checksum mismatch (truncated or corrupted)"));
        }
        Ok(r)
    }
}

/// Checks a frame of any of `versions` (one format's versions, all with one magic, the
/// newest last) and returns its version and a reader over its body. Data of another
/// version is refused naming the versions read; data that is not of the format, or too
/// short, as [`Format::open`] refuses it.
///
/// # Errors
/// As [`Format::open`].
pub(crate) fn open_versions<'a>(versions: &[Format], data: &'a [u8]) -> Result<(u32, Reader<'a>)> {
    let Some(newest) = versions.last() else {
        return Err(Error::bad_format("no format version to read"));
    };
    let version = match (data.get(..8), data.get(8..12)) {
        (Some(magic), Some(v)) if magic == newest.magic => {
            u32::from_le_bytes(v.try_into().unwrap_or_default())
        }
        _ => newest.version, // not of the format: refused below as such
    };
    match versions.iter().find(|f| f.version == version) {
        Some(f) => Ok((version, f.open(data)?)),
        None if data.len() >= OVERHEAD => {
            let read: Vec<String> = versions.iter().map(|f| f.version.to_string()).collect();
            Err(Error::bad_format(format!(
                "{} format version {version}; this bpekit reads version{} {}",
                newest.name,
                if read.len() > 1 { "s" } else { "" },
                read.join(" and ")
            )))
        }
        None => Ok((version, newest.open(data)?)), // too short: refused as truncated
    }
}

/// A fixed-width integer as stored: little-endian, `SIZE` bytes.
pub(crate) trait Le: Copy {
    /// Bytes per value.
    const SIZE: usize;
    /// The value of `bytes`, which are exactly `SIZE` long.
    fn from_le(bytes: &[u8]) -> Self;
    /// Appends the value's `SIZE` bytes.
    fn put_le(self, out: &mut Vec<u8>);
}

macro_rules! le {
    ($($t:ty),*) => {$(
        impl Le for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            #[inline]
            fn from_le(bytes: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(bytes);
                <$t>::from_le_bytes(a)
            }
            #[inline]
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
le!(u8, u16, u32, u64, i32, i64);

/// A bounds-checked little-endian reader over untrusted bytes: every read fails with
/// [`ErrorKind::BadFormat`](crate::ErrorKind::BadFormat) `"truncated data"` instead of
/// running past the end, and nothing is allocated from a length before the data
/// behind it is known to be there.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data, at: 0 }
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| Error::bad_format("truncated data"))?;
        let out = &self.data[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// The next fixed-width value.
    #[inline]
    pub(crate) fn read<T: Le>(&mut self) -> Result<T> {
        Ok(T::from_le(self.take(T::SIZE)?))
    }

    /// An unsigned LEB128 varint (7 bits a byte, low first, the top bit set on every
    /// byte but the last), in its shortest form: a value with a redundant final zero
    /// byte, or above `u64::MAX`, is refused, so every value has one encoding.
    pub(crate) fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(Error::bad_format("varint exceeds 64 bits"));
            }
            value |= bits << shift;
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 {
                    return Err(Error::bad_format("varint not in its shortest form"));
                }
                return Ok(value);
            }
        }
        Err(Error::bad_format("varint exceeds 64 bits"))
    }

    /// A `u32` length, then that many bytes.
    pub(crate) fn bytes_u32(&mut self) -> Result<&'a [u8]> {
        let len: u32 = self.read()?;
        self.take(len as usize)
    }

    /// `n` fixed-width values.
    pub(crate) fn array<T: Le>(&mut self, n: usize) -> Result<Vec<T>> {
        let bytes = self.take(n.checked_mul(T::SIZE).ok_or_else(|| Error::bad_format("truncated data"))?)?;
        Ok(bytes.chunks_exact(T::SIZE).map(T::from_le).collect())
    }

    /// `n` read as a count of items of at least `min_size` bytes each, or `error` if the
    /// data left cannot hold that many: a corrupt count cannot make a caller allocate
    /// more than the data's size.
    pub(crate) fn count(&self, n: u64, min_size: usize, error: impl FnOnce() -> Error) -> Result<usize> {
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() / min_size.max(1) => Ok(n),
            _ => Err(error()),
        }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.at
    }
}

/// A little-endian writer; a frame's writer ([`Format::writer`]) ends with
/// [`Writer::finish`].
#[derive(Debug, Default)]
pub(crate) struct Writer {
    out: Vec<u8>,
}

impl Writer {
    /// Appends raw bytes.
    pub(crate) fn bytes(&mut self, data: &[u8]) {
        self.out.extend_from_slice(data);
    }

    /// Appends a fixed-width value.
    #[inline]
    pub(crate) fn put<T: Le>(&mut self, v: T) {
        v.put_le(&mut self.out);
    }

    /// Appends `v` as an unsigned LEB128 varint ([`Reader::varint`]).
    #[inline]
    pub(crate) fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    /// Bytes written so far (the offset the next value is written at).
    pub(crate) fn len(&self) -> usize {
        self.out.len()
    }

    /// Overwrites the value written at offset `at` (a field whose value is known only
    /// once the rest is written, such as a count of items).
    ///
    /// # Panics
    /// If `at + T::SIZE` is past what was written: a bug in the format's writer.
    pub(crate) fn put_at<T: Le>(&mut self, at: usize, v: T) {
        let mut bytes = Vec::with_capacity(T::SIZE);
        v.put_le(&mut bytes);
        self.out[at..at + T::SIZE].copy_from_slice(&bytes);
    }

    /// Appends fixed-width values.
    pub(crate) fn put_all<T: Le>(&mut self, values: &[T]) {
        self.out.reserve(values.len().saturating_mul(T::SIZE));
        for &v in values {
            v.put_le(&mut self.out);
        }
    }

    /// Appends `n` as a `u32`, or `too_large` if it does not fit.
    pub(crate) fn len_u32(&mut self, n: usize, too_large: impl FnOnce() -> Error) -> Result<()> {
        self.put(u32::try_from(n).map_err(|_| too_large())?);
        Ok(())
    }

    /// The bytes written, with no checksum: for formats without a frame (a fixed-size
    /// header written on a `Writer::default()`).
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    /// Appends the checksum of everything written and returns the frame.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let sum = checksum(&self.out);
        self.put(sum);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    const TEST: Format = Format { magic: b"BPEKITXX", version: 3, name: "test frame" };

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut w = TEST.writer(body.len());
        w.bytes(body);
        w.finish()
    }

    #[test]
    fn checksum_is_fnv1a_64() {
        assert_eq!(checksum(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(checksum(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(checksum(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn a_frame_is_magic_version_body_checksum() {
        let data = frame(b"hello");
        assert_eq!(&data[..8], b"BPEKITXX");
        assert_eq!(&data[8..12], &3u32.to_le_bytes());
        assert_eq!(&data[12..17], b"hello");
        assert_eq!(&data[17..], &checksum(&data[..17]).to_le_bytes());
        let mut r = TEST.open(&data).unwrap();
        assert_eq!(r.take(5).unwrap(), b"hello");
        assert_eq!(r.remaining(), 0);
        assert_eq!(TEST.open(&frame(b"")).unwrap().remaining(), 0);
    }

    #[test]
    fn every_damage_is_named() {
        let data = frame(b"some body");
        let msg = |d: &[u8]| {
            let e = TEST.open(d).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BadFormat);
            e.message().to_owned()
        };
        for cut in 0..8 {
            assert_eq!(msg(&data[..cut]), "not a bpekit test frame (bad magic bytes)");
        }
        for cut in 8..OVERHEAD {
            assert_eq!(msg(&data[..cut]), "test frame: truncated");
        }
        for cut in OVERHEAD..data.len() {
            assert_eq!(msg(&data[..cut]), "test frame: checksum mismatch (truncated or corrupted)");
        }
        let mut v9 = data.clone();
        v9[8] = 9;
        assert_eq!(msg(&v9), "test frame format version 9; this bpekit reads version 3");
        for i in 0..data.len() {
            let mut b = data.clone();
            b[i] ^= 0x04;
            assert!(TEST.open(&b).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn reader_stays_in_bounds() {
        let mut w = Writer::default();
        w.put(7u8);
        w.put(0x0102u16);
        w.put(u32::MAX);
        w.put(-2i32);
        w.put(u64::MAX - 1);
        w.put(i64::MIN);
        w.put_all(&[1u16, 2, 65535]);
        w.put_all(&[-1i32, 5]);
        w.len_u32(3, || unreachable!()).unwrap();
        w.bytes(b"abc");
        let data = w.out;
        let mut r = Reader::new(&data);
        assert_eq!(r.read::<u8>().unwrap(), 7);
        assert_eq!(r.read::<u16>().unwrap(), 0x0102);
        assert_eq!(r.read::<u32>().unwrap(), u32::MAX);
        assert_eq!(r.read::<i32>().unwrap(), -2);
        assert_eq!(r.read::<u64>().unwrap(), u64::MAX - 1);
        assert_eq!(r.read::<i64>().unwrap(), i64::MIN);
        assert_eq!(r.array::<u16>(3).unwrap(), vec![1, 2, 65535]);
        assert_eq!(r.array::<i32>(2).unwrap(), vec![-1, 5]);
        assert_eq!(r.bytes_u32().unwrap(), b"abc");
        assert_eq!(r.remaining(), 0);
        for e in [r.read::<u8>().unwrap_err(), r.take(1).unwrap_err(), r.array::<u64>(1).unwrap_err()] {
            assert_eq!((e.kind(), e.message()), (ErrorKind::BadFormat, "truncated data"));
        }
        assert!(r.array::<u64>(usize::MAX).is_err());
        assert_eq!(r.array::<u64>(0).unwrap(), Vec::<u64>::new());
        // A length past the end fails without reading or allocating.
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 1]);
        assert!(r.bytes_u32().is_err());
        let r = Reader::new(&[0; 20]);
        let err = || Error::bad_format("too many");
        assert_eq!(r.count(4, 5, err).unwrap(), 4);
        assert!(r.count(5, 5, err).is_err());
        assert!(r.count(u64::MAX, 1, err).is_err());
        // Varints: shortest form only, at most 64 bits.
        let mut w = Writer::default();
        let values = [0, 1, 127, 128, 300, 1 << 48, u64::MAX - 1, u64::MAX];
        for v in values {
            w.varint(v);
        }
        assert_eq!(w.len(), 1 + 1 + 1 + 2 + 2 + 7 + 10 + 10);
        let data = w.out;
        let mut r = Reader::new(&data);
        for v in values {
            assert_eq!(r.varint().unwrap(), v);
        }
        assert_eq!(r.remaining(), 0);
        for (bad, what) in [
            (&[0x80, 0x00][..], "varint not in its shortest form"),
            (&[0xff, 0x80, 0x00][..], "varint not in its shortest form"),
            (&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02][..], "varint exceeds 64 bits"),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00][..],
                "varint exceeds 64 bits",
            ),
            (&[0x80][..], "truncated data"),
        ] {
            assert_eq!(Reader::new(bad).varint().unwrap_err().message(), what, "{bad:?}");
        }
        let mut w = Writer::default();
        w.put(0u64);
        w.put(7u8);
        w.put_at(0, 0x0102_0304u32);
        assert_eq!(w.out, [4, 3, 2, 1, 0, 0, 0, 0, 7]);
        let mut w = Writer::default();
        assert_eq!(
            w.len_u32(1 << 32, || Error::invalid_arg("too large")).unwrap_err().message(),
            "too large"
        );
    }
}
