//! tiktoken's `.tiktoken` rank format: one `base64(token) SP rank LF` line per token,
//! sorted by rank (what `tiktoken.load.dump_tiktoken_bpe` writes and
//! `load_tiktoken_bpe` reads).

use crate::error::{Error, Result};

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
fn base64_encode(data: &[u8], out: &mut Vec<u8>) {
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63]);
        out.push(B64[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 { B64[(n >> 6) as usize & 63] } else { b'=' });
        out.push(if chunk.len() > 2 { B64[n as usize & 63] } else { b'=' });
    }
}

fn b64_value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes standard base64 with padding; `None` if `s` is not canonical base64.
fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let quads = s.len() / 4;
    for (i, q) in s.chunks(4).enumerate() {
        let last = i + 1 == quads;
        let pad = if last { q.iter().rev().take_while(|&&c| c == b'=').count() } else { 0 };
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = (n << 6) | b64_value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        // Reject non-canonical encodings (stray bits under the padding).
        if (pad == 1 && bytes[2] != 0) || (pad == 2 && (bytes[1] != 0 || bytes[2] != 0)) {
            return None;
        }
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Parses a `.tiktoken` rank file (one `base64(token) SP rank LF` line per token, as
/// `tiktoken.load.load_tiktoken_bpe` reads) into `(token bytes, rank)` pairs, in file
/// order. [`Tokenizer::from_tiktoken`](crate::Tokenizer::from_tiktoken) builds a
/// tokenizer from such a file.
///
/// Empty lines and a trailing `\r` are accepted, as tiktoken accepts them.
///
/// # Errors
/// [`crate::ErrorKind::BadRanks`] naming the first bad line: not two fields, bad base64,
/// an empty token, or a rank that is not a decimal `u32`.
pub fn parse_tiktoken(data: &[u8]) -> Result<Vec<(Vec<u8>, u32)>> {
    let mut out = Vec::with_capacity(data.len() / 12);
    for (lineno, line) in data.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let bad =
            |what: &str| Error::bad_ranks(format!("malformed tiktoken ranks at line {}: {what}", lineno + 1));
        let mut fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty());
        let (Some(tok), Some(rank), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(bad("expected `<base64 token> <rank>`"));
        };
        let token = base64_decode(tok).ok_or_else(|| bad("token is not valid base64"))?;
        if token.is_empty() {
            return Err(bad("empty token"));
        }
        let rank = std::str::from_utf8(rank)
            .ok()
            .filter(|r| r.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|r| r.parse::<u32>().ok())
            .ok_or_else(|| bad("rank is not an integer in 0..2^32"))?;
        out.push((token, rank));
    }
    Ok(out)
}

/// Writes `(token, rank)` pairs, which must already be sorted by rank, in tiktoken's
/// format (as `tiktoken.load.dump_tiktoken_bpe` does); see also
/// [`Tokenizer::export_tiktoken`](crate::Tokenizer::export_tiktoken).
pub fn write_tiktoken<'a>(sorted: impl IntoIterator<Item = (&'a [u8], u32)>) -> Vec<u8> {
    let mut out = Vec::new();
    for (token, rank) in sorted {
        base64_encode(token, &mut out);
        out.push(b' ');
        out.extend_from_slice(rank.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn base64_known_vectors() {
        for (raw, enc) in [
            (&b""[..], &b""[..]),
            (b"f", b"Zg=="),
            (b"fo", b"Zm8="),
            (b"foo", b"Zm9v"),
            (b"foob", b"Zm9vYg=="),
            (b" the", b"IHRoZQ=="),
        ] {
            let mut out = Vec::new();
            base64_encode(raw, &mut out);
            assert_eq!(out, enc);
            assert_eq!(base64_decode(enc).unwrap(), raw);
        }
        for bad in [&b"Zg="[..], b"Zg=a", b"Z===", b"Zh==", b"Zm9*", b"=Zm9"] {
            assert_eq!(base64_decode(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    proptest! {
        #[test]
        fn base64_roundtrip(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut enc = Vec::new();
            base64_encode(&data, &mut enc);
            prop_assert_eq!(base64_decode(&enc).unwrap(), data);
        }
    }

    #[test]
    fn parse_and_write_roundtrip() {
        let text = b"IQ== 0\nIg== 1\r\n\nIHRoZQ== 2\n";
        let ranks = parse_tiktoken(text).unwrap();
        assert_eq!(ranks, vec![(b"!".to_vec(), 0), (b"\"".to_vec(), 1), (b" the".to_vec(), 2)]);
        let written = write_tiktoken(ranks.iter().map(|(t, r)| (t.as_slice(), *r)));
        assert_eq!(written, b"IQ== 0\nIg== 1\nIHRoZQ== 2\n");
    }

    #[test]
    fn malformed_lines_name_the_line() {
        for (text, what) in [
            (&b"IQ== 0\nIQ==\n"[..], "line 2"),
            (b"IQ== x\n", "rank is not an integer"),
            (b"IQ== -1\n", "rank is not an integer"),
            (b"IQ== 99999999999\n", "rank is not an integer"),
            (b"I*== 0\n", "base64"),
            (b"IQ== 0 7\n", "expected"),
        ] {
            let e = parse_tiktoken(text).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::BadRanks);
            assert!(e.message().contains(what), "{} lacks {what}", e.message());
        }
    }
}
