//! Byte classification, 64 bytes at a time, into one bitmask per ASCII class.
//!
//! [`masks`] turns a block of 64 bytes into [`Masks`]: bit `i` of each mask says whether byte
//! `i` is in that class. Scanners then find the end of a run with bit tricks (trailing
//! zeros of the inverted mask) instead of a branch per byte. [`select`] does the same for
//! bytes tested against bit patterns (the splitter's class bytes of two-byte characters).
//!
//! Design notes
//! - x86-64 uses SSE2, which every x86-64 CPU has: 16 bytes per compare, `pmovmskb` to
//!   gather the bits. The loads go through `_mm_set_epi64x` on two `u64`s read with
//!   `from_le_bytes` (the compiler folds them into vector loads), so the only `unsafe` is
//!   the call into each `#[target_feature(enable = "sse2")]` function, which Rust requires
//!   even when the whole build enables SSE2; it is compiled only then (`cfg`). The portable
//!   loop below is not turned into `pcmpeqb`/`pmovmskb` by LLVM (it works two bytes at a
//!   time).
//! - [`masks`] uses AVX2 (32 bytes per compare) where the CPU has it: std's runtime check
//!   (`is_x86_feature_detected!`, a cached flag: one load and a predicted branch per
//!   block) picks the function, which is then a call rather than inlined code. The named
//!   splitter runs 4-5% faster with it. Where the CPU has AVX-512BW, the whole block is
//!   one vector and each compare gives its 64 bits at once, in a mask register
//!   (measurements in bench/README.md). [`select`] stays on SSE2: it runs only on blocks
//!   with two-byte characters.
//! - aarch64 uses NEON, which its baseline has: 16 bytes per compare as with SSE2, and
//!   the lanes' bits packed by pairwise additions (see the `neon` module). Tested on
//!   aarch64 under qemu's user-mode emulation (`make test-aarch64`).
//! - Elsewhere a portable loop computes the same masks; it is also the reference every
//!   vector version is tested against.
//! - [`prefetch`] (a cache hint) is here too: with the calls above into the functions of
//!   each instruction set ([`masks`], [`select`]), the only `unsafe` outside `capi`, for
//!   the same reason.
//! - [`str_from_utf8`] validates text with the `simdutf8` crate (SIMD, runtime feature
//!   detection) and asks std only for the error's position once the text is known bad.
//! - The classes are about ASCII bytes only: a byte `>= 0x80` is in [`Masks::non_ascii`]
//!   and in no other class mask, so callers that meet one fall back to per-character code
//!   (or, for two-byte characters, [`Masks::lead2`], classify them by table).

/// `bytes` as `str` if they are UTF-8; std's error (with its position) if not.
#[inline]
pub(crate) fn str_from_utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(_) => std::str::from_utf8(bytes),
    }
}

/// Class bitmasks of a block of 64 bytes: bit `i` is byte `i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Masks {
    /// `[A-Za-z]`.
    pub(crate) letter: u64,
    /// `[A-Z]`.
    pub(crate) upper: u64,
    /// `[0-9]`.
    pub(crate) digit: u64,
    /// `' '`.
    pub(crate) space: u64,
    /// ASCII whitespace, `[\t\n\x0b\x0c\r ]` (the ASCII members of `\s`).
    pub(crate) white: u64,
    /// `[\r\n]`.
    pub(crate) newline: u64,
    /// `'`.
    pub(crate) apostrophe: u64,
    /// `/`.
    pub(crate) slash: u64,
    /// Bytes `>= 0x80`.
    pub(crate) non_ascii: u64,
    /// Bytes `0xC0..=0xDF`: in UTF-8, the first byte of a two-byte character.
    pub(crate) lead2: u64,
}

/// The 64 bits from bit `off` (`< 64`) of the 128-bit number `hi:lo`: with `lo` and `hi` the
/// masks of two consecutive blocks, the mask of the 64 bytes from byte `off` of the first.
#[inline(always)]
pub(crate) fn join(lo: u64, hi: u64, off: u32) -> u64 {
    debug_assert!(off < 64);
    // `hi << (64 - off)` in two steps, as a shift by 64 would overflow.
    lo.wrapping_shr(off) | (hi << 1).wrapping_shl(63 - off)
}

/// The class masks of `block`.
#[inline(always)]
pub(crate) fn masks(block: &[u8; 64]) -> Masks {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        if std::is_x86_feature_detected!("avx512bw") {
            // SAFETY: `avx512::masks` only needs AVX-512BW (with AVX-512F, which it
            // implies), which this CPU has (checked above, at run time).
            #[allow(unsafe_code)]
            return unsafe { avx512::masks(block) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: `avx2::masks` only needs AVX2, which this CPU has (checked above,
            // at run time).
            #[allow(unsafe_code)]
            return unsafe { avx2::masks(block) };
        }
        // SAFETY: `sse2::masks` only needs SSE2, which this build enables for every CPU it
        // runs on (the `cfg` above; it is part of the x86-64 baseline).
        #[allow(unsafe_code)]
        unsafe {
            sse2::masks(block)
        }
    }
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    {
        // SAFETY: `neon::masks` only needs NEON, which this build enables for every CPU
        // it runs on (the `cfg` above; it is part of the aarch64 baseline).
        #[allow(unsafe_code)]
        unsafe {
            neon::masks(block)
        }
    }
    #[cfg(not(any(
        all(target_arch = "x86_64", target_feature = "sse2"),
        all(target_arch = "aarch64", target_feature = "neon")
    )))]
    {
        masks_portable(block)
    }
}

/// For each test `(mask, want)`, the bitmask of the bytes `x` of `block` with
/// `x & mask == want` (bit `i` is byte `i`).
#[inline(always)]
pub(crate) fn select<const K: usize>(block: &[u8; 64], tests: [(u8, u8); K]) -> [u64; K] {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        // SAFETY: as in `masks`.
        #[allow(unsafe_code)]
        unsafe {
            sse2::select(block, tests)
        }
    }
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    {
        // SAFETY: as in `masks`.
        #[allow(unsafe_code)]
        unsafe {
            neon::select(block, tests)
        }
    }
    #[cfg(not(any(
        all(target_arch = "x86_64", target_feature = "sse2"),
        all(target_arch = "aarch64", target_feature = "neon")
    )))]
    {
        select_portable(block, tests)
    }
}

/// [`select`] one byte at a time.
#[cfg_attr(
    any(
        all(target_arch = "x86_64", target_feature = "sse2"),
        all(target_arch = "aarch64", target_feature = "neon")
    ),
    allow(dead_code)
)]
#[inline(always)]
pub(crate) fn select_portable<const K: usize>(block: &[u8; 64], tests: [(u8, u8); K]) -> [u64; K] {
    tests.map(|(mask, want)| {
        block.iter().enumerate().fold(0, |m, (i, &x)| m | u64::from(x & mask == want) << i)
    })
}

/// Asks the CPU to start loading the cache line that holds `x`: a hint, with no effect
/// on any result. A lookup in a table larger than the core's caches costs its load's
/// latency when nothing else is in flight, and next to nothing when its line was
/// requested a few dozen lookups earlier.
#[inline(always)]
pub(crate) fn prefetch<T>(x: &T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch reads nothing architecturally and cannot fault; it only
        // needs SSE, which this build enables for every CPU it runs on (the `cfg` above).
        #[allow(unsafe_code)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>((x as *const T).cast());
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        // (aarch64's prefetch intrinsic is not stable: the instruction itself.)
        // SAFETY: `prfm` is a hint: it reads nothing architecturally, cannot fault (an
        // address that is not mapped is ignored) and changes no register or flag.
        #[allow(unsafe_code)]
        unsafe {
            std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) x as *const T, options(nostack, preserves_flags, readonly));
        }
    }
    #[cfg(not(any(all(target_arch = "x86_64", target_feature = "sse"), target_arch = "aarch64")))]
    {
        let _ = x; // no prefetch hint on stable Rust elsewhere: the lookups just wait
    }
}

/// [`masks`] one byte at a time.
#[cfg_attr(
    any(
        all(target_arch = "x86_64", target_feature = "sse2"),
        all(target_arch = "aarch64", target_feature = "neon")
    ),
    allow(dead_code)
)]
#[inline(always)]
pub(crate) fn masks_portable(block: &[u8; 64]) -> Masks {
    let mut m = Masks::default();
    for (i, &x) in block.iter().enumerate() {
        let bit = 1u64 << i;
        let set = |mask: &mut u64, yes: bool| *mask |= if yes { bit } else { 0 };
        set(&mut m.letter, x.is_ascii_alphabetic());
        set(&mut m.upper, x.is_ascii_uppercase());
        set(&mut m.digit, x.is_ascii_digit());
        set(&mut m.space, x == b' ');
        set(&mut m.white, matches!(x, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' '));
        set(&mut m.newline, matches!(x, b'\r' | b'\n'));
        set(&mut m.apostrophe, x == b'\'');
        set(&mut m.slash, x == b'/');
        set(&mut m.non_ascii, x >= 0x80);
        set(&mut m.lead2, x & 0xE0 == 0xC0);
    }
    m
}

/// The body of every vector [`masks`]: the classes, each defined here once. `$vectors`
/// yields the block's vectors of `$lanes` bytes in order; per instruction set, `$eq` to
/// a byte and `$in_range` of bytes are compares, `$or` joins two compares, `$bits` turns
/// a compare into its lanes' bits, `$fold` folds a vector's letters to lowercase (sets
/// 0x20) and `$high` is the compare of its bytes `>= 0x80`.
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "sse2"),
    all(target_arch = "aarch64", target_feature = "neon")
))]
macro_rules! class_masks {
    ($vectors:expr, $lanes:expr, $eq:ident, $in_range:ident, $or:ident, $bits:ident, $fold:expr, $high:expr) => {{
        let mut m = Masks::default();
        for (k, v) in $vectors.into_iter().enumerate() {
            let shift = $lanes * k;
            let space = $eq(v, b' ');
            m.letter |= $bits($in_range($fold(v), b'a', 26)) << shift;
            m.upper |= $bits($in_range(v, b'A', 26)) << shift;
            m.digit |= $bits($in_range(v, b'0', 10)) << shift;
            m.space |= $bits(space) << shift;
            m.white |= $bits($or($in_range(v, b'\t', 5), space)) << shift;
            m.newline |= $bits($or($eq(v, b'\n'), $eq(v, b'\r'))) << shift;
            m.apostrophe |= $bits($eq(v, b'\'')) << shift;
            m.slash |= $bits($eq(v, b'/')) << shift;
            m.non_ascii |= $bits($high(v)) << shift;
            m.lead2 |= $bits($in_range(v, 0xC0, 32)) << shift;
        }
        m
    }};
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi8, _mm_and_si128, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8, _mm_set_epi64x,
    };

    use super::Masks;

    /// Bytes `x` with `x - lo < n` (unsigned, wrapping): adding `0x80 - lo` moves the range
    /// to the bottom of the signed bytes, where one signed compare tests it.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn in_range(v: __m128i, lo: u8, n: u8) -> __m128i {
        let shift = _mm_set1_epi8(0x80u8.wrapping_sub(lo) as i8);
        let limit = _mm_set1_epi8(0x80u8.wrapping_add(n) as i8);
        _mm_cmplt_epi8(_mm_add_epi8(v, shift), limit)
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn eq(v: __m128i, x: u8) -> __m128i {
        _mm_cmpeq_epi8(v, _mm_set1_epi8(x as i8))
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn bits(v: __m128i) -> u64 {
        u64::from(_mm_movemask_epi8(v) as u16)
    }

    /// The 16 bytes of `chunk` (16 long) as a vector.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn load(chunk: &[u8]) -> __m128i {
        let word = |i: usize| {
            let bytes: [u8; 8] = chunk[i..i + 8].try_into().unwrap_or_else(|_| unreachable!("8 bytes"));
            i64::from_le_bytes(bytes)
        };
        _mm_set_epi64x(word(8), word(0))
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn select<const K: usize>(block: &[u8; 64], tests: [(u8, u8); K]) -> [u64; K] {
        let mut out = [0; K];
        for (k, chunk) in block.chunks_exact(16).enumerate() {
            let v = load(chunk);
            for (m, (mask, want)) in out.iter_mut().zip(tests) {
                *m |= bits(eq(_mm_and_si128(v, _mm_set1_epi8(mask as i8)), want)) << (16 * k);
            }
        }
        out
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn masks(block: &[u8; 64]) -> Masks {
        let or = |a, b| _mm_or_si128(a, b);
        let fold = |v| _mm_or_si128(v, _mm_set1_epi8(0x20));
        class_masks!(block.chunks_exact(16).map(|c| load(c)), 16, eq, in_range, or, bits, fold, |v| v)
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod avx2 {
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi8, _mm256_cmpeq_epi8, _mm256_cmpgt_epi8, _mm256_movemask_epi8,
        _mm256_or_si256, _mm256_set1_epi8, _mm256_set_epi64x,
    };

    use super::Masks;

    /// Bytes `x` with `x - lo < n` (unsigned, wrapping), as in `sse2::in_range`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn in_range(v: __m256i, lo: u8, n: u8) -> __m256i {
        let shift = _mm256_set1_epi8(0x80u8.wrapping_sub(lo) as i8);
        let limit = _mm256_set1_epi8(0x80u8.wrapping_add(n) as i8);
        _mm256_cmpgt_epi8(limit, _mm256_add_epi8(v, shift))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn eq(v: __m256i, x: u8) -> __m256i {
        _mm256_cmpeq_epi8(v, _mm256_set1_epi8(x as i8))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn bits(v: __m256i) -> u64 {
        u64::from(_mm256_movemask_epi8(v) as u32)
    }

    /// The 32 bytes of `chunk` (32 long) as a vector.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(chunk: &[u8]) -> __m256i {
        let word = |i: usize| {
            let bytes: [u8; 8] = chunk[i..i + 8].try_into().unwrap_or_else(|_| unreachable!("8 bytes"));
            i64::from_le_bytes(bytes)
        };
        _mm256_set_epi64x(word(24), word(16), word(8), word(0))
    }

    /// `sse2::masks`, 32 bytes at a time.
    #[target_feature(enable = "avx2")]
    pub(super) fn masks(block: &[u8; 64]) -> Masks {
        let or = |a, b| _mm256_or_si256(a, b);
        let fold = |v| _mm256_or_si256(v, _mm256_set1_epi8(0x20));
        class_masks!(block.chunks_exact(32).map(|c| load(c)), 32, eq, in_range, or, bits, fold, |v| v)
    }
}

/// [`masks`] for CPUs with AVX-512BW: the whole block in one vector, and each compare
/// gives its 64 bits at once (a mask register), with no gathering of lanes' bits.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod avx512 {
    use std::arch::x86_64::{
        __m512i, _mm512_cmpeq_epi8_mask, _mm512_cmplt_epu8_mask, _mm512_movepi8_mask, _mm512_or_si512,
        _mm512_set1_epi8, _mm512_set_epi64, _mm512_sub_epi8,
    };

    use super::Masks;

    /// Bytes `x` with `x - lo < n` (unsigned, wrapping): AVX-512 compares unsigned bytes.
    #[inline]
    #[target_feature(enable = "avx512bw")]
    fn in_range(v: __m512i, lo: u8, n: u8) -> u64 {
        _mm512_cmplt_epu8_mask(_mm512_sub_epi8(v, _mm512_set1_epi8(lo as i8)), _mm512_set1_epi8(n as i8))
    }

    #[inline]
    #[target_feature(enable = "avx512bw")]
    fn eq(v: __m512i, x: u8) -> u64 {
        _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(x as i8))
    }

    #[target_feature(enable = "avx512bw")]
    pub(super) fn masks(block: &[u8; 64]) -> Masks {
        let word = |i: usize| {
            let bytes: [u8; 8] =
                block[8 * i..8 * i + 8].try_into().unwrap_or_else(|_| unreachable!("8 bytes"));
            i64::from_le_bytes(bytes)
        };
        let v = _mm512_set_epi64(word(7), word(6), word(5), word(4), word(3), word(2), word(1), word(0));
        // (The compares are masks already: their bits as they are.)
        let (or, bits) = (|a: u64, b: u64| a | b, |m: u64| m);
        let fold = |v| _mm512_or_si512(v, _mm512_set1_epi8(0x20));
        class_masks!([v], 64, eq, in_range, or, bits, fold, _mm512_movepi8_mask)
    }
}

/// [`masks`] and [`select`] on aarch64, whose baseline has NEON: 16 bytes per compare,
/// as with SSE2. NEON has no instruction that gathers each lane's top bit (SSE2's
/// `pmovmskb`), so each lane keeps its own bit of a byte (`1 << i % 8`) and three rounds of
/// pairwise additions pack the 64 lanes of four compares into one 64-bit word.
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
mod neon {
    use std::arch::aarch64::{
        uint8x16_t, vandq_u8, vceqq_u8, vcgeq_u8, vcltq_u8, vcombine_u8, vcreate_u8, vdupq_n_u8,
        vgetq_lane_u64, vorrq_u8, vpaddq_u8, vreinterpretq_u64_u8, vsubq_u8,
    };

    use super::Masks;

    /// A block as four vectors of 16 bytes.
    type Block = [uint8x16_t; 4];

    #[inline]
    #[target_feature(enable = "neon")]
    fn load(block: &[u8; 64]) -> Block {
        let word = |i: usize| {
            let bytes: [u8; 8] =
                block[8 * i..8 * i + 8].try_into().unwrap_or_else(|_| unreachable!("8 bytes"));
            u64::from_le_bytes(bytes)
        };
        [0, 1, 2, 3].map(|k| vcombine_u8(vcreate_u8(word(2 * k)), vcreate_u8(word(2 * k + 1))))
    }

    /// Bit `i` set if lane `i % 16` of vector `i / 16` of `m` (each lane 0 or 0xFF) is set.
    #[inline]
    #[target_feature(enable = "neon")]
    fn bits(m: Block) -> u64 {
        // Lane i's own bit within its byte, then pairwise sums: 16 bytes of pairs, of
        // fours, then 8 bytes of eights (each byte the mask of 8 consecutive lanes).
        let weights = vcombine_u8(vcreate_u8(0x8040_2010_0804_0201), vcreate_u8(0x8040_2010_0804_0201));
        let [a, b, c, d] = m.map(|v| vandq_u8(v, weights));
        let fours = vpaddq_u8(vpaddq_u8(a, b), vpaddq_u8(c, d));
        vgetq_lane_u64::<0>(vreinterpretq_u64_u8(vpaddq_u8(fours, fours)))
    }

    /// Bytes `x` with `x - lo < n` (unsigned, wrapping): NEON compares unsigned bytes.
    #[inline]
    #[target_feature(enable = "neon")]
    fn in_range(v: Block, lo: u8, n: u8) -> Block {
        v.map(|x| vcltq_u8(vsubq_u8(x, vdupq_n_u8(lo)), vdupq_n_u8(n)))
    }

    #[inline]
    #[target_feature(enable = "neon")]
    fn eq(v: Block, x: u8) -> Block {
        v.map(|y| vceqq_u8(y, vdupq_n_u8(x)))
    }

    #[inline]
    #[target_feature(enable = "neon")]
    fn or(a: Block, b: Block) -> Block {
        [vorrq_u8(a[0], b[0]), vorrq_u8(a[1], b[1]), vorrq_u8(a[2], b[2]), vorrq_u8(a[3], b[3])]
    }

    #[inline]
    #[target_feature(enable = "neon")]
    pub(super) fn select<const K: usize>(block: &[u8; 64], tests: [(u8, u8); K]) -> [u64; K] {
        let v = load(block);
        tests.map(|(mask, want)| bits(eq(v.map(|x| vandq_u8(x, vdupq_n_u8(mask))), want)))
    }

    #[inline]
    #[target_feature(enable = "neon")]
    pub(super) fn masks(block: &[u8; 64]) -> Masks {
        let fold = |v: Block| v.map(|x| vorrq_u8(x, vdupq_n_u8(0x20)));
        let high = |v: Block| v.map(|x| vcgeq_u8(x, vdupq_n_u8(0x80)));
        class_masks!([load(block)], 64, eq, in_range, or, bits, fold, high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Valid text, and text with one byte changed (mostly invalid, at any position,
        /// past the SIMD blocks' edges too): std's verdict and error position.
        #[test]
        fn str_from_utf8_agrees_with_std(text in "\\PC{0,200}", at in any::<prop::sample::Index>(), b in any::<u8>()) {
            let mut bytes = text.into_bytes();
            prop_assert_eq!(str_from_utf8(&bytes), std::str::from_utf8(&bytes));
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = b;
                prop_assert_eq!(str_from_utf8(&bytes), std::str::from_utf8(&bytes));
            }
        }
    }

    type MaskFn = fn(&[u8; 64]) -> Masks;

    /// Every implementation this CPU runs: the dispatching one, and each x86-64 one.
    fn mask_functions() -> Vec<(&'static str, MaskFn)> {
        #[allow(unused_mut)]
        let mut fs: Vec<(&'static str, MaskFn)> = vec![("masks", masks)];
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            // SAFETY: SSE2 is in this build's baseline; AVX2 is checked first.
            #[allow(unsafe_code)]
            fs.push(("sse2", |b| unsafe { sse2::masks(b) }));
            if std::is_x86_feature_detected!("avx2") {
                #[allow(unsafe_code)]
                fs.push(("avx2", |b| unsafe { avx2::masks(b) }));
            }
            if std::is_x86_feature_detected!("avx512bw") {
                #[allow(unsafe_code)]
                fs.push(("avx512", |b| unsafe { avx512::masks(b) }));
            }
        }
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        {
            // SAFETY: NEON is in this build's baseline.
            #[allow(unsafe_code)]
            fs.push(("neon", |b| unsafe { neon::masks(b) }));
        }
        fs
    }

    /// Every byte value at every position of a block, against the portable version.
    #[test]
    fn masks_agree_with_the_portable_version() {
        for (name, f) in mask_functions() {
            for x in 0..=255u8 {
                for at in 0..64 {
                    let mut block = [b'q'; 64];
                    block[at] = x;
                    assert_eq!(f(&block), masks_portable(&block), "{name}: byte {x:#x} at {at}");
                }
            }
            let block: [u8; 64] = std::array::from_fn(|i| (i * 37 + 11) as u8);
            assert_eq!(f(&block), masks_portable(&block), "{name}");
        }
    }

    #[test]
    fn portable_masks_follow_the_ascii_classes() {
        let mut block = [b'.'; 64];
        block[..16].copy_from_slice(b"Ab 9\t\n\r'/\x0b\x0c\xc3\xa9z_-");
        let m = masks_portable(&block);
        assert_eq!(m.letter & 0xFFFF, 0b10_0000_0000_0011);
        assert_eq!(m.upper & 0xFFFF, 0b1);
        assert_eq!(m.digit & 0xFFFF, 0b1000);
        assert_eq!(m.space & 0xFFFF, 0b100);
        assert_eq!(m.white & 0xFFFF, 0b110_0111_0100);
        assert_eq!(m.newline & 0xFFFF, 0b110_0000);
        assert_eq!(m.apostrophe & 0xFFFF, 0b1000_0000);
        assert_eq!(m.slash & 0xFFFF, 0b1_0000_0000);
        assert_eq!(m.non_ascii, 0b1_1000_0000_0000);
        assert_eq!(m.lead2, 0b1000_0000_0000);
    }

    /// Every byte value at every position of a block, against the portable version.
    #[test]
    fn select_agrees_with_the_portable_version() {
        let tests = [(0xFF, 0x41), (0x0F, 0x03), (0xC0, 0x80), (0x00, 0x00), (0x81, 0x81)];
        for x in 0..=255u8 {
            for at in 0..64 {
                let mut block = [b'q'; 64];
                block[at] = x;
                assert_eq!(select(&block, tests), select_portable(&block, tests), "byte {x:#x} at {at}");
            }
        }
        let block: [u8; 64] = std::array::from_fn(|i| (i * 37 + 11) as u8);
        let got = select_portable(&block, tests);
        assert_eq!(got, select(&block, tests));
        assert_eq!(got[3], u64::MAX);
        for (i, &x) in block.iter().enumerate() {
            assert_eq!(got[0] >> i & 1 == 1, x == 0x41);
            assert_eq!(got[2] >> i & 1 == 1, (0x80..0xC0).contains(&x));
        }
    }

    #[test]
    fn join_reads_across_two_blocks() {
        let (a, b) = (0xF000_0000_0000_0001, 0b101);
        assert_eq!(join(a, b, 0), a);
        assert_eq!(join(a, b, 1), 0xF800_0000_0000_0000);
        assert_eq!(join(a, b, 60), 0b101_1111);
        assert_eq!(join(a, b, 63), 0b1011);
    }
}
