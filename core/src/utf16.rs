//! Host strings into UTF-8. UTF-16 text, for hosts whose strings are UTF-16 (JavaScript,
//! Java, .NET, Windows): the C ABI's `_utf16` entry points take their code units as they
//! are, so a host need not transcode first (a host's own transcoder is often the slower
//! one: a general one, not vectorized for runs of ASCII as this one is). And text stored
//! as fixed-width code points ([`code_points_to_utf8`]), as CPython stores a str: the
//! Python builtins read a large str in place (see `capi/host/python.rs`).
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
        i = ascii_blocks(units, i, out);
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

/// A unit of a text stored as fixed-width code points, one per unit (CPython's str
/// storage, PEP 393: Latin-1 in bytes, the BMP in 16-bit units, all of Unicode in 32-bit).
pub(crate) trait CodePoint: Copy + Default + std::ops::BitOr<Output = Self> {
    fn value(self) -> u32;
}

impl CodePoint for u8 {
    #[inline(always)]
    fn value(self) -> u32 {
        u32::from(self)
    }
}

impl CodePoint for u16 {
    #[inline(always)]
    fn value(self) -> u32 {
        u32::from(self)
    }
}

impl CodePoint for u32 {
    #[inline(always)]
    fn value(self) -> u32 {
        self
    }
}

/// Writes the UTF-8 of the code points `units` into `out` (cleared first) and returns it
/// as text; `None` if a unit is no Unicode scalar value (a surrogate, which a Python str
/// may hold and UTF-8 cannot, or a value past U+10FFFF), with `out` holding a prefix.
///
/// Runs of ASCII go a block at a time, as in [`utf16_to_utf8`]. Latin-1 text, whose
/// characters are one or two bytes, is written without a branch per character: a text
/// that mixes both (accented prose, or random bytes) would mispredict one at about every
/// non-ASCII character.
pub(crate) fn code_points_to_utf8<'a, U: CodePoint>(units: &[U], out: &'a mut Vec<u8>) -> Option<&'a str> {
    out.clear();
    let wide = std::mem::size_of::<U>() > 1;
    // Exact for ASCII; Latin-1 needs up to two bytes per unit (room made ahead, below).
    out.reserve(if wide { units.len() } else { 2 * units.len() });
    let mut i = 0;
    while i < units.len() {
        i = ascii_blocks(units, i, out);
        let end = (i + BLOCK).min(units.len());
        if !wide {
            // Two bytes written for every unit, the second overwritten when the unit
            // takes one (its lead then is the unit itself).
            let at = out.len();
            out.resize(at + 2 * (end - i), 0);
            let mut w = at;
            for &u in &units[i..end] {
                let x = u.value() as u8;
                out[w] = if x < 0x80 { x } else { 0xc0 | x >> 6 };
                out[w + 1] = 0x80 | (x & 0x3f);
                w += 1 + usize::from(x >> 7);
            }
            out.truncate(w);
            i = end;
            continue;
        }
        for &u in &units[i..end] {
            match u.value() {
                x @ 0..=0x7f => out.push(x as u8),
                x @ 0x80..=0x7ff => out.extend_from_slice(&[0xc0 | (x >> 6) as u8, 0x80 | (x & 0x3f) as u8]),
                x => {
                    let mut buf = [0; 4];
                    out.extend_from_slice(char::from_u32(x)?.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        i = end;
    }
    // UTF-8 by construction; the check is the safe way to say so (as above).
    crate::simd::str_from_utf8(out).ok()
}

/// Appends the whole blocks of ASCII units of `units` from `i` on to `out`, and returns
/// where the first block that is not all ASCII (or the last, partial one) starts.
#[inline(always)]
fn ascii_blocks<U: CodePoint>(units: &[U], mut i: usize, out: &mut Vec<u8>) -> usize {
    while let Some(block) = units.get(i..i + BLOCK).and_then(|b| <&[U; BLOCK]>::try_from(b).ok()) {
        // (Folded at the units' own width: lanes as wide as they must be.)
        if block.iter().fold(U::default(), |m, &u| m | u).value() >= 0x80 {
            break;
        }
        let mut ascii = [0u8; BLOCK];
        for (a, &u) in ascii.iter_mut().zip(block) {
            *a = u.value() as u8;
        }
        out.extend_from_slice(&ascii);
        i += BLOCK;
    }
    i
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

    /// The code points of `text` in units of `U` (each fits).
    fn units_of<U: TryFrom<u32>>(text: &str) -> Vec<U> {
        text.chars().map(|c| U::try_from(u32::from(c)).ok().expect("fits")).collect()
    }

    #[test]
    fn code_points_known_texts() {
        let mut out = Vec::new();
        for text in ["", "a", "héllo wörld ÿ\u{80}\u{ff}", &"aé".repeat(100), &"x".repeat(130)] {
            assert_eq!(code_points_to_utf8(&units_of::<u8>(text), &mut out), Some(text));
            assert_eq!(code_points_to_utf8(&units_of::<u16>(text), &mut out), Some(text));
            assert_eq!(code_points_to_utf8(&units_of::<u32>(text), &mut out), Some(text));
        }
        for text in ["日本語", "€ and ߿ and \u{800}\u{ffff}", &format!("{}€", "a".repeat(64))] {
            assert_eq!(code_points_to_utf8(&units_of::<u16>(text), &mut out), Some(text));
            assert_eq!(code_points_to_utf8(&units_of::<u32>(text), &mut out), Some(text));
        }
        let text = "🎉 x \u{10ffff}";
        assert_eq!(code_points_to_utf8(&units_of::<u32>(text), &mut out), Some(text));
    }

    #[test]
    fn code_points_that_are_no_scalar_values_are_refused() {
        let mut out = Vec::new();
        for bad in [0xd800u32, 0xdfff, 0x11_0000, u32::MAX] {
            let mut units = vec![0x61u32; 70];
            units.push(bad);
            assert_eq!(code_points_to_utf8(&units, &mut out), None, "{bad:x}");
            if let Ok(bad) = u16::try_from(bad) {
                let units: Vec<u16> = [0x61, bad, 0x61].into();
                assert_eq!(code_points_to_utf8(&units, &mut out), None, "{bad:x}");
            }
        }
    }

    proptest! {
        /// Any Latin-1 bytes, and any code points: their text, or `None` where one is no
        /// scalar value.
        #[test]
        fn code_points_equal_std(
            bytes in prop::collection::vec(prop_oneof![3 => 0u8..0x80, 1 => any::<u8>()], 0..300),
            points in prop::collection::vec(prop_oneof![
                4 => 0u32..0x80, 1 => 0x80u32..0x800, 1 => 0xd7f0u32..0xe010, 1 => 0x10_fff0u32..0x11_0010,
                1 => any::<u32>()], 0..300),
        ) {
            let mut out = Vec::new();
            let latin: String = bytes.iter().map(|&b| char::from(b)).collect();
            prop_assert_eq!(code_points_to_utf8(&bytes, &mut out), Some(latin.as_str()));
            let chars: Option<String> = points.iter().map(|&p| char::from_u32(p)).collect();
            prop_assert_eq!(code_points_to_utf8(&points, &mut out).map(str::to_owned), chars.clone());
            if let Ok(units) = points.iter().map(|&p| u16::try_from(p)).collect::<std::result::Result<Vec<u16>, _>>() {
                prop_assert_eq!(code_points_to_utf8(&units, &mut out).map(str::to_owned), chars);
            }
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
