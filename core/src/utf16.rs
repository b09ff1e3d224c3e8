//! UTF-16 text into UTF-8, for hosts whose strings are UTF-16 (JavaScript, Java, .NET,
//! Windows): the C ABI's `_utf16` entry points take their code units as they are, so a
//! host need not transcode first (a host's own transcoder is often the slower one: a
//! general one, not vectorized for runs of ASCII as this one is).
//!
//! Contract: [`utf16_to_utf8`] gives exactly `String::from_utf16`'s text; a lone
//! surrogate (a high one not followed by a low one, or a low one alone) is
//! [`ErrorKind::InvalidUtf8`](crate::ErrorKind::InvalidUtf8) naming its unit, never
//! replaced: the same text as UTF-8 would be refused the same way.

use crate::error::{Error, ErrorKind, Result};

/// Units per ASCII block: one OR-reduction and one narrowing each, which the compiler
/// vectorizes (SSE2: `por`, `packuswb`); 64 measured faster than 16 or 32.
const BLOCK: usize = 64;

/// Appends the UTF-8 of `units` to `out` (cleared first) and returns it as text.
///
/// # Errors
/// [`ErrorKind::InvalidUtf8`] at the first lone surrogate; `out` then holds a prefix.
pub(crate) fn utf16_to_utf8<'a>(units: &[u16], out: &'a mut Vec<u8>) -> Result<&'a str> {
    out.clear();
    // Exact for ASCII; other text grows it (a unit takes at most 3 bytes).
    out.reserve(units.len());
    let mut i = 0;
    while i < units.len() {
        while let Some(block) = units.get(i..i + BLOCK).and_then(|b| <&[u16; BLOCK]>::try_from(b).ok()) {
            if block.iter().fold(0, |m, &u| m | u) >= 0x80 {
                break;
            }
            let mut ascii = [0u8; BLOCK];
            for (a, &u) in ascii.iter_mut().zip(block) {
                *a = u as u8;
            }
            out.extend_from_slice(&ascii);
            i += BLOCK;
        }
        // Up to the next block (a surrogate pair may take i one past it).
        let end = (i + BLOCK).min(units.len());
        while i < end {
            let u = units[i];
            i += 1;
            let c = match u {
                0..=0x7f => {
                    out.push(u as u8);
                    continue;
                }
                0x80..=0x7ff => {
                    out.extend_from_slice(&[0xc0 | (u >> 6) as u8, 0x80 | (u & 0x3f) as u8]);
                    continue;
                }
                0xd800..=0xdbff => match units.get(i) {
                    Some(&low @ 0xdc00..=0xdfff) => {
                        i += 1;
                        0x10000 + ((u32::from(u) - 0xd800) << 10) + (u32::from(low) - 0xdc00)
                    }
                    _ => return Err(lone(i - 1)),
                },
                0xdc00..=0xdfff => return Err(lone(i - 1)),
                _ => u32::from(u),
            };
            // (c is a scalar value: surrogates were taken out above.)
            let c = char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER);
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    // The bytes are UTF-8 by construction; the check is the safe way to say so and
    // costs a fraction of the loop above.
    crate::simd::str_from_utf8(out).map_err(|e| Error::new(ErrorKind::InvalidUtf8, e.to_string()))
}

fn lone(unit: usize) -> Error {
    Error::new(
        ErrorKind::InvalidUtf8,
        format!("text is not well-formed UTF-16: a lone surrogate at unit {unit}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn convert(units: &[u16]) -> Result<String> {
        let mut out = Vec::new();
        utf16_to_utf8(units, &mut out).map(str::to_owned)
    }

    #[test]
    fn known_texts() {
        for text in [
            "",
            "a",
            "hello world, a text longer than one block of sixteen units",
            "héllo",
            "日本語",
            "🎉 x 🎉",
            &"ab€".repeat(40),
        ] {
            let units: Vec<u16> = text.encode_utf16().collect();
            assert_eq!(convert(&units).unwrap(), text);
        }
    }

    #[test]
    fn lone_surrogates_are_refused_with_their_unit() {
        for (units, at) in [
            (vec![0xd800], 0),
            (vec![0x61, 0xdc00], 1),
            (vec![0x61; 70].into_iter().chain([0xd83c, 0x61]).collect(), 70),
            (vec![0xd83c, 0xd83c, 0xdf89], 0),
            // a pair cut at a block boundary, then a lone high surrogate at the end
            ((0..63).map(|_| 0x61).chain([0xd83c, 0xdf89]).chain([0xdbff]).collect(), 65),
        ] {
            let e = convert(&units).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidUtf8);
            assert!(e.message().ends_with(&format!("unit {at}")), "{units:x?}: {}", e.message());
        }
    }

    proptest! {
        /// Any units: the same text as `String::from_utf16`, or an error where it fails.
        #[test]
        fn equals_std(units in prop::collection::vec(prop_oneof![
            4 => 0u16..0x80, 1 => 0x80u16..0x800, 1 => any::<u16>(), 1 => 0xd800u16..0xe000], 0..300)) {
            match (String::from_utf16(&units), convert(&units)) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(_), Err(e)) => prop_assert_eq!(e.kind(), ErrorKind::InvalidUtf8),
                (a, b) => prop_assert!(false, "std {:?} vs {:?}", a, b),
            }
        }

        /// Any text survives the trip through UTF-16.
        #[test]
        fn round_trips(text in "[a-z ]{0,150}\\PC{0,60}[a-z ]{0,150}") {
            let units: Vec<u16> = text.encode_utf16().collect();
            prop_assert_eq!(convert(&units).unwrap(), text);
        }
    }
}
