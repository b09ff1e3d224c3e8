//! A CPython builtin function for the Python binding's hottest call, `encode_ordinary`.
//!
//! Why it exists: through cffi's ABI mode every call pays libffi's per-argument work,
//! a bytes copy of the text, a GIL round trip and the unpacking of the result, which
//! on a short text costs more than the encode itself. A builtin function object is
//! called by CPython directly (`METH_O`), reads the str's UTF-8 where it lies and builds
//! the list itself. (`bench/README.md` has the measurements.)
//!
//! The wheel stays `py3-none-<platform>`: this library does not link libpython. The
//! Python package hands over the addresses of the C API functions it needs (exported by
//! every CPython 3, all in the stable ABI as of 3.10) from the interpreter it runs in
//! (`bpekit_host_python_api`). PyPy and other interpreters keep the cffi path.

use std::ffi::{c_char, c_int, c_ulong, c_void};
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

use super::super::boundary::{call, panic_message, try_ref};
use super::super::error::{bpekit_error, bpekit_status, CError, BPEKIT_ERR_INVALID_ARG};
use super::super::tokenizer::{bpekit_tokenizer, check_threads};
use super::with_scratch_ids;
use crate::encode::Parts;
use crate::utf16::code_points_to_utf8;
use crate::{Allowed, Disallowed, SpecialPolicy, Tokenizer};

/// The CPython C API functions `bpekit_host_python_encoder` uses, by address: each member is
/// the function of the same name (`PyUnicode_AsUTF8AndSize`, `PyList_New`, ...) of the
/// running interpreter, whose contracts the builtins rely on (the UTF-8 it gives for a
/// str is not checked again, for one). Objects are `PyObject *`, written `void *`;
/// `ptrdiff_t` is `Py_ssize_t`. `size` must be `sizeof(bpekit_host_python_api)`.
#[repr(C)]
pub struct bpekit_host_python_api {
    /// `sizeof(bpekit_host_python_api)`.
    pub size: usize,
    /// `PyUnicode_AsUTF8AndSize`.
    pub unicode_as_utf8_and_size: Option<unsafe extern "C" fn(*mut c_void, *mut isize) -> *const c_char>,
    /// `PyUnicode_GetLength`.
    pub unicode_get_length: Option<unsafe extern "C" fn(*mut c_void) -> isize>,
    /// `PyUnicode_AsUTF8String`.
    pub unicode_as_utf8_string: Option<unsafe extern "C" fn(*mut c_void) -> *mut c_void>,
    /// `PyBytes_AsStringAndSize`.
    pub bytes_as_string_and_size:
        Option<unsafe extern "C" fn(*mut c_void, *mut *mut c_char, *mut isize) -> c_int>,
    /// `PyList_New`.
    pub list_new: Option<unsafe extern "C" fn(isize) -> *mut c_void>,
    /// `PyList_SetItem`.
    pub list_set_item: Option<unsafe extern "C" fn(*mut c_void, isize, *mut c_void) -> c_int>,
    /// `PyList_Append`.
    pub list_append: Option<unsafe extern "C" fn(*mut c_void, *mut c_void) -> c_int>,
    /// `PyLong_FromUnsignedLong`.
    pub long_from_unsigned_long: Option<unsafe extern "C" fn(c_ulong) -> *mut c_void>,
    /// `PyCFunction_NewEx` (its first argument is a `PyMethodDef *`).
    pub cfunction_new_ex: Option<unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void) -> *mut c_void>,
    /// `PyCapsule_New`.
    pub capsule_new: Option<
        unsafe extern "C" fn(
            *mut c_void,
            *const c_char,
            Option<unsafe extern "C" fn(*mut c_void)>,
        ) -> *mut c_void,
    >,
    /// `PyCapsule_GetPointer`.
    pub capsule_get_pointer: Option<unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void>,
    /// `Py_IncRef`.
    pub inc_ref: Option<unsafe extern "C" fn(*mut c_void)>,
    /// `Py_DecRef`.
    pub dec_ref: Option<unsafe extern "C" fn(*mut c_void)>,
    /// `PyErr_SetString`.
    pub err_set_string: Option<unsafe extern "C" fn(*mut c_void, *const c_char)>,
    /// `PyEval_SaveThread`.
    pub eval_save_thread: Option<unsafe extern "C" fn() -> *mut c_void>,
    /// `PyEval_RestoreThread`.
    pub eval_restore_thread: Option<unsafe extern "C" fn(*mut c_void)>,
    /// `PyGILState_Check`.
    pub gil_state_check: Option<unsafe extern "C" fn() -> c_int>,
    /// `PyByteArray_FromStringAndSize`.
    pub bytearray_from_string_and_size: Option<unsafe extern "C" fn(*const c_char, isize) -> *mut c_void>,
    /// `PyByteArray_AsString`.
    pub bytearray_as_string: Option<unsafe extern "C" fn(*mut c_void) -> *mut c_char>,
    /// `PyTuple_GetItem`.
    pub tuple_get_item: Option<unsafe extern "C" fn(*mut c_void, isize) -> *mut c_void>,
    /// `PyList_Size`.
    pub list_size: Option<unsafe extern "C" fn(*mut c_void) -> isize>,
    /// `PyList_GetItem`.
    pub list_get_item: Option<unsafe extern "C" fn(*mut c_void, isize) -> *mut c_void>,
    /// `PyLong_AsSsize_t`.
    pub long_as_ssize_t: Option<unsafe extern "C" fn(*mut c_void) -> isize>,
    /// `PyErr_Occurred`.
    pub err_occurred: Option<unsafe extern "C" fn() -> *mut c_void>,
    /// `PyTuple_Size`.
    pub tuple_size: Option<unsafe extern "C" fn(*mut c_void) -> isize>,
    /// `PyBytes_FromStringAndSize`.
    pub bytes_from_string_and_size: Option<unsafe extern "C" fn(*const c_char, isize) -> *mut c_void>,
    /// `PyUnicode_FromStringAndSize`.
    pub unicode_from_string_and_size: Option<unsafe extern "C" fn(*const c_char, isize) -> *mut c_void>,
}

/// `bpekit_host_python_api` with every member present.
#[derive(Clone, Copy)]
struct Api {
    as_utf8: unsafe extern "C" fn(*mut c_void, *mut isize) -> *const c_char,
    unicode_get_length: unsafe extern "C" fn(*mut c_void) -> isize,
    as_utf8_string: unsafe extern "C" fn(*mut c_void) -> *mut c_void,
    bytes_as_string_and_size: unsafe extern "C" fn(*mut c_void, *mut *mut c_char, *mut isize) -> c_int,
    list_new: unsafe extern "C" fn(isize) -> *mut c_void,
    list_set_item: unsafe extern "C" fn(*mut c_void, isize, *mut c_void) -> c_int,
    list_append: unsafe extern "C" fn(*mut c_void, *mut c_void) -> c_int,
    long_from: unsafe extern "C" fn(c_ulong) -> *mut c_void,
    cfunction_new: unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void) -> *mut c_void,
    capsule_new: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        Option<unsafe extern "C" fn(*mut c_void)>,
    ) -> *mut c_void,
    capsule_get: unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void,
    inc_ref: unsafe extern "C" fn(*mut c_void),
    dec_ref: unsafe extern "C" fn(*mut c_void),
    err_set_string: unsafe extern "C" fn(*mut c_void, *const c_char),
    save_thread: unsafe extern "C" fn() -> *mut c_void,
    restore_thread: unsafe extern "C" fn(*mut c_void),
    gil_state_check: unsafe extern "C" fn() -> c_int,
    bytearray_new: unsafe extern "C" fn(*const c_char, isize) -> *mut c_void,
    bytearray_data: unsafe extern "C" fn(*mut c_void) -> *mut c_char,
    tuple_get: unsafe extern "C" fn(*mut c_void, isize) -> *mut c_void,
    list_size: unsafe extern "C" fn(*mut c_void) -> isize,
    list_get: unsafe extern "C" fn(*mut c_void, isize) -> *mut c_void,
    long_as_ssize: unsafe extern "C" fn(*mut c_void) -> isize,
    err_occurred: unsafe extern "C" fn() -> *mut c_void,
    tuple_size: unsafe extern "C" fn(*mut c_void) -> isize,
    bytes_new: unsafe extern "C" fn(*const c_char, isize) -> *mut c_void,
    str_new: unsafe extern "C" fn(*const c_char, isize) -> *mut c_void,
}

impl Api {
    /// The functions' addresses, to compare two `Api`s.
    fn addresses(&self) -> [usize; 27] {
        [
            self.as_utf8 as usize,
            self.unicode_get_length as usize,
            self.as_utf8_string as usize,
            self.bytes_as_string_and_size as usize,
            self.gil_state_check as usize,
            self.list_new as usize,
            self.list_set_item as usize,
            self.list_append as usize,
            self.long_from as usize,
            self.cfunction_new as usize,
            self.capsule_new as usize,
            self.capsule_get as usize,
            self.inc_ref as usize,
            self.dec_ref as usize,
            self.err_set_string as usize,
            self.save_thread as usize,
            self.restore_thread as usize,
            self.bytearray_new as usize,
            self.bytearray_data as usize,
            self.tuple_get as usize,
            self.list_size as usize,
            self.list_get as usize,
            self.long_as_ssize as usize,
            self.err_occurred as usize,
            self.tuple_size as usize,
            self.bytes_new as usize,
            self.str_new as usize,
        ]
    }

    fn from_c(c: &bpekit_host_python_api) -> Option<Api> {
        if c.size != std::mem::size_of::<bpekit_host_python_api>() {
            return None;
        }
        Some(Api {
            as_utf8: c.unicode_as_utf8_and_size?,
            unicode_get_length: c.unicode_get_length?,
            as_utf8_string: c.unicode_as_utf8_string?,
            bytes_as_string_and_size: c.bytes_as_string_and_size?,
            gil_state_check: c.gil_state_check?,
            list_new: c.list_new?,
            list_set_item: c.list_set_item?,
            list_append: c.list_append?,
            long_from: c.long_from_unsigned_long?,
            cfunction_new: c.cfunction_new_ex?,
            capsule_new: c.capsule_new?,
            capsule_get: c.capsule_get_pointer?,
            inc_ref: c.inc_ref?,
            dec_ref: c.dec_ref?,
            err_set_string: c.err_set_string?,
            save_thread: c.eval_save_thread?,
            restore_thread: c.eval_restore_thread?,
            bytearray_new: c.bytearray_from_string_and_size?,
            bytearray_data: c.bytearray_as_string?,
            tuple_get: c.tuple_get_item?,
            list_size: c.list_size?,
            list_get: c.list_get_item?,
            long_as_ssize: c.long_as_ssize_t?,
            err_occurred: c.err_occurred?,
            tuple_size: c.tuple_size?,
            bytes_new: c.bytes_from_string_and_size?,
            str_new: c.unicode_from_string_and_size?,
        })
    }
}

/// The interpreter's functions: one CPython runtime per process.
static API: OnceLock<Api> = OnceLock::new();

/// What a builtin is bound to (its capsule's pointer).
struct Binding {
    tok: *const bpekit_tokenizer,
    /// The Python object that owns `tok` (a reference held).
    keepalive: *mut c_void,
    /// The exception class for internal errors (a reference held).
    error_type: *mut c_void,
    /// The int object of each id below `INT_CACHE_MAX` that a list has held (a reference
    /// held; NULL until then): see [`Binding::int`].
    ints: Box<[AtomicPtr<c_void>]>,
    /// Whether the interpreter's objects have CPython's classic layout ([`Layout`]).
    layout: Layout,
    /// Where this interpreter's strs keep their characters, if known ([`StrLayout`]).
    str_layout: Option<StrLayout>,
}

/// How the builtins fill a new list and take a new reference to a kept int.
///
/// Through the C API, each is a call into the interpreter per id (`PyList_SetItem`,
/// `Py_IncRef`), which costs more than the store it makes. CPython's own
/// macros for both (`PyList_SET_ITEM`, `Py_INCREF`) are plain stores in the object
/// layout every CPython 3 build with a GIL has: an object starts with its reference count
/// (`Py_ssize_t`), and a list's item array pointer follows the list's header (reference
/// count, type, size). That layout is not part of the stable ABI, and other builds lay
/// objects out differently (the free-threaded build, which gets a builtin when its GIL
/// is on, starts an object with its owning thread; `Py_TRACE_REFS` builds with two list
/// links), so it is checked, not assumed: [`Layout::probe`] watches a reference count
/// change under `Py_IncRef` and finds a list's items where `PyList_SetItem` put them,
/// and anything else keeps the calls. Even with the classic layout, only counts below
/// [`DIRECT_REFCNT_MAX`] are changed in place: immortal objects (small ints, since
/// CPython 3.12) have larger ones and their own rules (as have objects whose word holds
/// flags beside a 32-bit count), so they keep `Py_IncRef`. The interpreter takes the
/// references back as it always does (`Py_DECREF` when a list goes): every object's
/// count is exactly what the calls would have made. (A debug build's running total of
/// references, `sys.gettotalrefcount()`, does not see the increments made in place and
/// drifts down by one per id placed: a statistic, not a count any object holds.)
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// CPython's classic object layout: the stores above.
    Classic,
    /// Unknown: the C API calls.
    Calls,
}

/// Reference counts from this one up are left to `Py_IncRef` (see [`Layout`]): one more
/// from below it stays below every immortal count CPython has used (2^30 - 1 on 32-bit
/// builds of 3.12 and 3.13, 2^30 and up on 3.14's, 2^31 and up in the low half of the
/// word on 64-bit builds). Not lower: CPython 3.11 starts its static objects at
/// 999,999,999, small ints included, whose counts are ordinary ones; ids below 257 are a
/// third of the tokens of English text and two thirds of those of random bytes as
/// latin-1, and through `Py_IncRef` they took three quarters of the time of building a
/// list.
const DIRECT_REFCNT_MAX: isize = (1 << 30) - 2;

/// Pointer-sized words before a list's item array in the classic layout: reference
/// count, type, size (`PyListObject.ob_item`).
const LIST_ITEMS_WORD: usize = 3;

impl Layout {
    /// The layout of this interpreter's objects, by experiment on two new ints and a new
    /// list (see [`Layout`]), or None with the exception set if a CPython call failed.
    /// GIL held.
    unsafe fn probe(api: Api) -> Option<Layout> {
        // SAFETY: the GIL is held (caller's contract). Every object read is a live one
        // this function holds a reference to, and every read is of its first
        // `LIST_ITEMS_WORD + 1` words, which every object of these types has whatever
        // its layout (a list's header alone is larger in every CPython build).
        unsafe {
            let (a, b) = ((api.long_from)(1_000_003), (api.long_from)(1_000_033));
            if a.is_null() || b.is_null() {
                for x in [a, b] {
                    if !x.is_null() {
                        (api.dec_ref)(x);
                    }
                }
                return None;
            }
            let count = |x: *mut c_void| x.cast::<isize>().read();
            let before = count(a);
            (api.inc_ref)(a);
            let counted = count(a) == before.wrapping_add(1) && (1..DIRECT_REFCNT_MAX).contains(&before);
            (api.dec_ref)(a);
            let counted = counted && count(a) == before;
            let list = (api.list_new)(2);
            if list.is_null() {
                (api.dec_ref)(a);
                (api.dec_ref)(b);
                return None;
            }
            (api.list_set_item)(list, 0, a); // takes the references
            (api.list_set_item)(list, 1, b);
            // (Read only where the first word was found to be the reference count: the
            // header is then CPython's variable-size one, whose third word is the size,
            // and a list's fourth is its item array, NULL or holding the items.)
            let header = list.cast::<*mut c_void>();
            let classic = counted && header.add(LIST_ITEMS_WORD - 1).cast::<isize>().read() == 2 && {
                let items = header.add(LIST_ITEMS_WORD).read().cast::<*mut c_void>();
                !items.is_null() && items.read() == a && items.add(1).read() == b
            };
            (api.dec_ref)(list);
            Some(if classic { Layout::Classic } else { Layout::Calls })
        }
    }
}

/// Where a str keeps its characters, for reading a large str in place ([`utf8_of`]).
///
/// CPython stores a str as fixed-width code points (PEP 393): one byte each if all are
/// below U+0100, two if below U+10000, else four. A str's UTF-8 is made on request
/// (`PyUnicode_AsUTF8AndSize`, kept in the str; `PyUnicode_AsUTF8String`, a new bytes),
/// one character at a time, a visible share of a large non-ASCII text's encode; read in
/// place and converted by [`crate::utf16::code_points_to_utf8`] (runs of ASCII a block at
/// a time) it is a small one (bench/README.md, "Reading a long str in place"). Nothing in the stable ABI tells where the code points are, but every CPython
/// with the GIL lays out a *compact* str (every str but those of subclasses and of a
/// few legacy calls) the same way: a header of the reference count, the type, the
/// length, the hash and the state bits (two bits of interning, three of the width, one
/// "compact", one "ASCII"), then for an ASCII str its characters, for any other two or
/// three more words, then its code points. The header's size has changed across
/// versions (3.12 dropped a word from each), so it is not assumed: [`StrLayout::probe`]
/// makes a str of each width and finds the length, the state bits and the characters
/// where this layout puts them, or the builtins read every str through the C API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct StrLayout {
    /// Byte offset of an ASCII str's characters.
    ascii: usize,
    /// Byte offset of the code points of any other str.
    wide: usize,
}

/// A str's characters where they lie ([`StrLayout::units`]).
enum Units<'a> {
    Ascii(&'a [u8]),
    Latin1(&'a [u8]),
    Ucs2(&'a [u16]),
    Ucs4(&'a [u32]),
}

/// Word of a str that holds its length, and the byte that holds its state bits (after
/// the reference count, the type, the length and the hash).
const STR_LENGTH_WORD: usize = 2;
const STR_STATE_BYTE: usize = 4 * std::mem::size_of::<usize>();

/// What [`StrLayout::probe`] makes a str of: characters of one width and how many bytes
/// each takes there (1 for ASCII too), the state's width field and ASCII bit.
const STR_SAMPLES: [(&str, usize, u8, u8); 4] = [
    ("bpekit probes where a str keeps its characters: abcdefghijklmn", 1, 1, 1),
    ("\u{e9}\u{df}\u{ff} bpekit probes a str of Latin-1: abcdefghijklmnopqrstuvwx", 1, 1, 0),
    ("\u{20ac}\u{3042}\u{ffff} bpekit probes a str of the BMP: abcdefghijklmnopqrstu", 2, 2, 0),
    ("\u{1f389}\u{10ffff} bpekit probes a str of any characters: abcdefghijklmnopqr", 4, 4, 0),
];

impl StrLayout {
    /// The state bits of `text` (a live str: its header has them).
    unsafe fn state(text: *const c_void) -> u8 {
        // SAFETY: every str's header is longer than `STR_STATE_BYTE + 1` bytes (caller's
        // contract; in every CPython build).
        unsafe { text.cast::<u8>().add(STR_STATE_BYTE).read() }
    }

    /// The layout, if this interpreter's strs have it (see [`StrLayout`]); `None` inside
    /// if they do not, outside (with the exception set) if a CPython call failed. GIL
    /// held.
    unsafe fn probe(api: Api) -> Option<Option<StrLayout>> {
        // SAFETY: the GIL is held (caller's contract). Every object read is a live str
        // this function holds a reference to, of over 50 characters. The reads are of
        // its first `STR_STATE_BYTE + 1` bytes (in every str's header), and, once those
        // showed this layout's header, of 8 characters at offsets of at most three words
        // past the ASCII header (the largest header of this layout): within the object,
        // whose characters follow its header.
        unsafe {
            let mut found = Some(StrLayout { ascii: 0, wide: 0 });
            for (i, &(sample, width, kind, ascii)) in STR_SAMPLES.iter().enumerate() {
                let chars = sample.chars().count() as isize;
                let text = (api.str_new)(sample.as_ptr().cast(), sample.len() as isize);
                if text.is_null() {
                    return None;
                }
                let state = Self::state(text);
                let header_ok = text.cast::<isize>().add(STR_LENGTH_WORD).read() == chars
                    && (api.unicode_get_length)(text) == chars
                    && state >> 2 & 7 == kind
                    && state >> 5 & 1 == 1
                    && state >> 6 & 1 == ascii;
                let first: Vec<u32> = sample.chars().take(8).map(u32::from).collect();
                let units_at = |offset: usize| -> bool {
                    let at = text.cast::<u8>().add(offset);
                    (0..8).all(|k| {
                        let p = at.add(k * width);
                        let unit = match width {
                            1 => u32::from(p.read()),
                            2 => u32::from(p.cast::<u16>().read_unaligned()),
                            _ => p.cast::<u32>().read_unaligned(),
                        };
                        unit == first[k]
                    })
                };
                let word = std::mem::size_of::<usize>();
                found = found.filter(|_| header_ok).and_then(|mut layout| {
                    if i == 0 {
                        // An ASCII str's UTF-8 is its characters themselves.
                        let mut len = 0;
                        let data = (api.as_utf8)(text, &mut len);
                        let offset = (data as usize).wrapping_sub(text as usize);
                        let max = STR_STATE_BYTE + 4 * word;
                        (!data.is_null() && (STR_STATE_BYTE + 4..=max).contains(&offset) && units_at(offset))
                            .then_some(StrLayout { ascii: offset, ..layout })
                    } else {
                        // Two or three words more than an ASCII str's header.
                        let wide =
                            [2, 3].map(|w| layout.ascii + w * word).into_iter().find(|&o| units_at(o))?;
                        (i == 1 || wide == layout.wide).then(|| {
                            layout.wide = wide;
                            layout
                        })
                    }
                });
                (api.dec_ref)(text);
                if !(api.err_occurred)().is_null() {
                    return None; // (`PyUnicode_AsUTF8AndSize` failed: not expected)
                }
            }
            Some(found)
        }
    }

    /// The characters of str `text` of `chars` characters where they lie, or `None` if
    /// it is not a compact str (the code points are elsewhere). GIL held.
    unsafe fn units<'a>(self, text: *mut c_void, chars: usize) -> Option<Units<'a>> {
        // SAFETY: `text` is a live str (caller's contract) whose header this layout
        // describes (probed): a compact str's characters follow it, `chars` of the width
        // its state gives; they stay where they are while the str lives (strs are
        // immutable), which the caller ensures for `'a`.
        unsafe {
            let state = Self::state(text);
            if state >> 5 & 1 == 0 {
                return None;
            }
            let base = text.cast::<u8>().cast_const();
            let (ascii, wide) = (base.add(self.ascii), base.add(self.wide));
            Some(match (state >> 2 & 7, state >> 6 & 1) {
                (1, 1) => Units::Ascii(std::slice::from_raw_parts(ascii, chars)),
                (1, _) => Units::Latin1(std::slice::from_raw_parts(wide, chars)),
                (2, _) if wide.cast::<u16>().is_aligned() => {
                    Units::Ucs2(std::slice::from_raw_parts(wide.cast(), chars))
                }
                (4, _) if wide.cast::<u32>().is_aligned() => {
                    Units::Ucs4(std::slice::from_raw_parts(wide.cast(), chars))
                }
                _ => return None,
            })
        }
    }
}

/// Ids below this get a kept int object (see [`Binding::int`]): the table costs 8 bytes
/// per id of the vocabulary up to this bound.
const INT_CACHE_MAX: usize = 1 << 20;

impl Binding {
    /// A new reference to the int `id`, or NULL with the exception set. GIL held.
    ///
    /// Why kept: making an int per id (an allocation, and a free when the list goes)
    /// costs several times the list's own work, so the builtin keeps the int of each id
    /// it has returned and hands out new references to it (ints are immutable: lists
    /// may share them). That is at most one int (about 32 bytes) per id of the
    /// vocabulary below `INT_CACHE_MAX`, released with the builtin; and lists that are
    /// kept (a corpus's token lists) take 8 bytes per id instead of about 40.
    #[inline]
    unsafe fn int(&self, api: Api, id: u32) -> *mut c_void {
        let Some(slot) = self.ints.get(id as usize) else {
            // SAFETY: the GIL is held (caller's contract).
            return unsafe { (api.long_from)(c_ulong::from(id)) };
        };
        // (The GIL orders these; the atomics only make sharing the table sound.)
        let kept = slot.load(Ordering::Relaxed);
        // SAFETY: the GIL is held; `kept` is NULL or an int the table holds a reference to;
        // with the classic layout its first word is its reference count (see `Layout`).
        unsafe {
            if !kept.is_null() {
                let count = kept.cast::<isize>();
                if self.layout == Layout::Classic && count.read() < DIRECT_REFCNT_MAX {
                    // (At least 1: the table holds a reference.)
                    count.write(count.read() + 1);
                } else {
                    (api.inc_ref)(kept);
                }
                return kept;
            }
            let new = (api.long_from)(c_ulong::from(id));
            if !new.is_null() {
                (api.inc_ref)(new); // the table's reference
                slot.store(new, Ordering::Relaxed);
            }
            new
        }
    }
}

const CAPSULE_NAME: &std::ffi::CStr = c"bpekit.encoder";

/// `PyMethodDef`, whose layout is part of CPython's stable ABI.
#[repr(C)]
struct PyMethodDef {
    name: *const c_char,
    meth: unsafe extern "C" fn(*mut c_void, *mut c_void) -> *mut c_void,
    flags: c_int,
    doc: *const c_char,
}

/// Only read, by CPython.
struct MethodDef(PyMethodDef);
// SAFETY: immutable static data (pointers to static strings and a function).
unsafe impl Sync for MethodDef {}

const METH_O: c_int = 0x0008;

static ENCODE_ORDINARY: MethodDef = MethodDef(PyMethodDef {
    name: c"encode_ordinary".as_ptr(),
    meth: encode_ordinary,
    flags: METH_O,
    doc: c"encode_ordinary(text, /)\n--\n\nThe ids of str `text`, special-token text as ordinary text."
        .as_ptr(),
});

static ENCODE_ORDINARY_U32: MethodDef = MethodDef(PyMethodDef {
    name: c"encode_ordinary_u32".as_ptr(),
    meth: encode_ordinary_u32,
    flags: METH_O,
    doc: c"encode_ordinary_u32(text, /)\n--\n\nThe ids of str `text`, special-token text as ordinary text, as a bytearray of native-endian uint32."
        .as_ptr(),
});

static ENCODE_ORDINARY_BATCH: MethodDef = MethodDef(PyMethodDef {
    name: c"encode_ordinary_batch".as_ptr(),
    meth: encode_ordinary_batch,
    flags: METH_O,
    doc: c"encode_ordinary_batch(args, /)\n--\n\n`args` is `(texts, num_threads)` or `(texts, num_threads, mode)`, `texts` a list of str: the ids of each text, encoded on up to `num_threads` threads (0: the default), special-token text as ordinary text (mode 0, the default), or as tiktoken's `encode` with its default arguments (mode 1: refused if a text holds a special token's text) or with allowed_special=\"all\" (mode 2)."
        .as_ptr(),
});

static ENCODE_ORDINARY_BATCH_U32: MethodDef = MethodDef(PyMethodDef {
    name: c"encode_ordinary_batch_u32".as_ptr(),
    meth: encode_ordinary_batch_u32,
    flags: METH_O,
    doc: c"encode_ordinary_batch_u32(args, /)\n--\n\n`args` as for encode_ordinary_batch: `[ids, offsets]`, two bytearrays, the ids of all texts one after another as native-endian uint32 and `len(texts) + 1` offsets into them as native-endian uint64."
        .as_ptr(),
});

static ENCODE: MethodDef = MethodDef(PyMethodDef {
    name: c"encode".as_ptr(),
    meth: encode,
    flags: METH_O,
    doc: c"encode(text, /)\n--\n\nThe ids of str `text`, which holds no special token's text (tiktoken's `encode` with its default arguments; else the error of the builtins)."
        .as_ptr(),
});

static ENCODE_U32: MethodDef = MethodDef(PyMethodDef {
    name: c"encode_u32".as_ptr(),
    meth: encode_u32,
    flags: METH_O,
    doc: c"encode_u32(text, /)\n--\n\n`encode`'s ids as a bytearray of native-endian uint32.".as_ptr(),
});

static ENCODE_ALL_SPECIAL: MethodDef = MethodDef(PyMethodDef {
    name: c"encode_all_special".as_ptr(),
    meth: encode_all_special,
    flags: METH_O,
    doc: c"encode_all_special(text, /)\n--\n\nThe ids of str `text`, each special token's text as its id (tiktoken's `encode` with allowed_special=\"all\")."
        .as_ptr(),
});

static ENCODE_ALL_SPECIAL_U32: MethodDef = MethodDef(PyMethodDef {
    name: c"encode_all_special_u32".as_ptr(),
    meth: encode_all_special_u32,
    flags: METH_O,
    doc: c"encode_all_special_u32(text, /)\n--\n\n`encode_all_special`'s ids as a bytearray of native-endian uint32."
        .as_ptr(),
});

static DECODE_BYTES: MethodDef = MethodDef(PyMethodDef {
    name: c"decode_bytes".as_ptr(),
    meth: decode_bytes,
    flags: METH_O,
    doc: c"decode_bytes(ids, /)\n--\n\nThe bytes of the ids in list `ids` (each an int: no `__index__`)."
        .as_ptr(),
});

/// Texts of at least this many bytes are encoded with the GIL released, so Python threads
/// encode in parallel; shorter ones keep it (releasing costs about as much as their encode).
const GIL_RELEASE_MIN: usize = 256;

/// Makes nine CPython builtin functions that encode and decode with `tok`, for the Python binding
/// (other hosts have no use for them), and appends the list of them to the list
/// `out_list`: `encode_ordinary(text: str) -> list[int]`, `encode_ordinary_u32(text: str)
/// -> bytearray`, the ids as native-endian `uint32` (what a NumPy array can take over
/// without a copy), `encode_ordinary_batch((texts: list[str], num_threads: int)) ->
/// list[list[int]]`, the batch encode with the GIL released,
/// `encode_ordinary_batch_u32((texts, num_threads)) -> [bytearray, bytearray]`, the same
/// batch as all ids (`uint32`) and `len(texts) + 1` offsets (`uint64`), native-endian
/// (the texts are read in place: no copy of their UTF-8 per call), `encode(text: str) ->
/// list[int]` and `encode_u32(text: str) -> bytearray`, tiktoken's `encode` with its
/// default arguments (every special token's text disallowed: such a text raises
/// `error_type`, for the caller to raise tiktoken's error its own way), and
/// `encode_all_special(text: str) -> list[int]` and `encode_all_special_u32(text: str) ->
/// bytearray`, tiktoken's `encode` with `allowed_special="all"`. The batch builtins take
/// a third item for the last two ways, `(texts, num_threads, mode)`: [`BATCH_MODES`].
/// Last, `decode_bytes(ids: list[int]) -> bytes`, raising `error_type` for an id that is
/// not a token or not in 0..2^32-1 (and CPython's `TypeError` or `OverflowError` for an
/// item that is not an int or does not fit a `Py_ssize_t`). Call it with
/// the GIL held (ctypes' `PyDLL`, not cffi, which releases it).
///
/// `api` holds the interpreter's C API functions (every call in a process must pass the
/// same ones). `keepalive` is the Python object that owns `tok`; the builtin holds a
/// reference to it, so `tok` lives as long as the builtin (the one exception to "bpekit
/// never keeps a pointer to an input"). `error_type` is the exception class the builtin
/// raises for internal errors. The builtin raises `TypeError` for a non-str and
/// `UnicodeEncodeError` for a str with lone surrogates (the caller handles both), and
/// release the GIL while they encode a long text.
///
/// Errors: `BPEKIT_ERR_NULL_ARG`; `BPEKIT_ERR_INVALID_ARG` if `api` has another size, a
/// NULL member, or other functions than the first call's, if the calling thread does
/// not hold the GIL (checked before any object is touched, with `PyGILState_Check`: a
/// call through cffi), or if
/// a CPython call failed (its exception is then set, and `out_list` unchanged).
#[no_mangle]
pub unsafe extern "C" fn bpekit_host_python_encoder(
    api: *const bpekit_host_python_api,
    tok: *const bpekit_tokenizer,
    keepalive: *mut c_void,
    error_type: *mut c_void,
    out_list: *mut c_void,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract); the GIL is held.
    unsafe {
        call(err, || {
            let api = try_ref(api, "api")?;
            let api = Api::from_c(api)
                .ok_or_else(|| CError::new(BPEKIT_ERR_INVALID_ARG, "api: another size, or a NULL member"))?;
            if API.get_or_init(|| api).addresses() != api.addresses() {
                return Err(CError::new(BPEKIT_ERR_INVALID_ARG, "api: not the functions of the first call"));
            }
            if (api.gil_state_check)() == 0 {
                // cffi releases the GIL around its calls: nothing Python may be touched
                return Err(CError::new(
                    BPEKIT_ERR_INVALID_ARG,
                    "call bpekit_host_python_encoder with the GIL held (ctypes.PyDLL, not cffi)",
                ));
            }
            let vocab = try_ref(tok, "tok")?.inner.vocab_size().min(INT_CACHE_MAX);
            for (p, name) in [(keepalive, "keepalive"), (error_type, "error_type"), (out_list, "out_list")] {
                if p.is_null() {
                    return Err(CError::null(name));
                }
            }
            let python_failed =
                || CError::new(BPEKIT_ERR_INVALID_ARG, "a CPython call failed (its exception is set)");
            let ints = (0..vocab).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect();
            let layout = Layout::probe(api).ok_or_else(python_failed)?;
            let str_layout = StrLayout::probe(api).ok_or_else(python_failed)?;
            let binding =
                Box::into_raw(Box::new(Binding { tok, keepalive, error_type, ints, layout, str_layout }));
            // The capsule takes the binding (freed by `release`), the builtin the capsule.
            (api.inc_ref)(keepalive);
            (api.inc_ref)(error_type);
            let capsule = (api.capsule_new)(binding.cast(), CAPSULE_NAME.as_ptr(), Some(release));
            if capsule.is_null() {
                release_binding(api, binding);
                return Err(python_failed());
            }
            // Each builtin takes a reference to the capsule; `out_list` gets one new item,
            // the list of them, or nothing.
            let pair = (api.list_new)(9);
            if pair.is_null() {
                (api.dec_ref)(capsule);
                return Err(python_failed());
            }
            let mut made = true;
            let defs = [
                &ENCODE_ORDINARY,
                &ENCODE_ORDINARY_U32,
                &ENCODE_ORDINARY_BATCH,
                &ENCODE_ORDINARY_BATCH_U32,
                &ENCODE,
                &ENCODE_U32,
                &ENCODE_ALL_SPECIAL,
                &ENCODE_ALL_SPECIAL_U32,
                &DECODE_BYTES,
            ];
            for (i, def) in (0..).zip(defs) {
                let def = std::ptr::from_ref(&def.0).cast_mut().cast();
                let function = if made {
                    (api.cfunction_new)(def, capsule, std::ptr::null_mut())
                } else {
                    std::ptr::null_mut()
                };
                made &= !function.is_null();
                if made {
                    (api.list_set_item)(pair, i, function); // takes the reference
                }
            }
            (api.dec_ref)(capsule); // the builtins hold it now (or it is gone)
            let appended = made && (api.list_append)(out_list, pair) == 0;
            (api.dec_ref)(pair); // `out_list` holds it now (or it is gone)
            if !appended {
                return Err(python_failed());
            }
            Ok(())
        })
    }
}

/// Drops a binding's references and frees it. GIL held.
unsafe fn release_binding(api: Api, binding: *mut Binding) {
    // SAFETY: `binding` came from `Box::into_raw` and is released once.
    let b = unsafe { Box::from_raw(binding) };
    // SAFETY: the references were taken in `bpekit_host_python_encoder` and
    // `Binding::int`.
    unsafe {
        for int in &b.ints {
            let int = int.load(Ordering::Relaxed);
            if !int.is_null() {
                (api.dec_ref)(int);
            }
        }
        (api.dec_ref)(b.keepalive);
        (api.dec_ref)(b.error_type);
    }
}

/// The capsule's destructor (CPython calls it with the GIL held).
unsafe extern "C" fn release(capsule: *mut c_void) {
    let Some(&api) = API.get() else { return };
    // SAFETY: `capsule` is a live capsule of ours, being destroyed.
    let binding = unsafe { (api.capsule_get)(capsule, CAPSULE_NAME.as_ptr()) };
    if !binding.is_null() {
        // SAFETY: the capsule's pointer is the binding it owns.
        unsafe { release_binding(api, binding.cast()) };
    }
}

/// `f`, with the GIL released around it if `release`.
///
/// # Safety
/// The GIL is held on entry (and is on return); `f` touches no Python object.
///
/// (A daemon thread still in `f` when the interpreter finalizes is ended by
/// PyEval_RestoreThread up to 3.13, through pthread_exit: the same as with PyO3's
/// allow_threads; nothing of ours is left half-done but the thread's own buffers.)
unsafe fn without_gil_if<R>(api: Api, release: bool, f: impl FnOnce() -> R) -> R {
    if !release {
        return f();
    }
    // SAFETY: the GIL is held (caller's contract), so it can be released and taken back;
    // `f` needs no Python object without it (caller's contract).
    unsafe {
        let state = (api.save_thread)();
        let result = f();
        (api.restore_thread)(state);
        result
    }
}

/// The text of UTF-8 that [`utf8_of`] read from a str: valid by construction (CPython's
/// encoder refuses lone surrogates, the one thing a str holds that UTF-8 cannot), so not
/// checked again.
///
/// # Safety
/// `bytes` must come from [`utf8_of`] (with the interpreter's own C API functions, as the
/// host header requires of the table it is given).
unsafe fn str_utf8(bytes: &[u8]) -> &str {
    debug_assert!(std::str::from_utf8(bytes).is_ok());
    // SAFETY: CPython's UTF-8 of a str is valid UTF-8 (the caller's contract).
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

/// The list builtin's body (`METH_O`: `slf` is the capsule, `text` the argument).
unsafe extern "C" fn encode_ordinary(slf: *mut c_void, text: *mut c_void) -> *mut c_void {
    // SAFETY: as `encode_with`'s (CPython's call).
    unsafe { encode_with(slf, text, None, new_list) }
}

/// The bytearray builtin's body (as [`encode_ordinary`]).
unsafe extern "C" fn encode_ordinary_u32(slf: *mut c_void, text: *mut c_void) -> *mut c_void {
    // SAFETY: as `encode_with`'s (CPython's call).
    unsafe { encode_with(slf, text, None, new_u32_bytearray) }
}

/// The `encode` builtin's body (as [`encode_ordinary`]).
unsafe extern "C" fn encode(slf: *mut c_void, text: *mut c_void) -> *mut c_void {
    // SAFETY: as `encode_with`'s (CPython's call).
    unsafe { encode_with(slf, text, Some(&TIKTOKEN_DEFAULT), new_list) }
}

/// The `encode_u32` builtin's body (as [`encode_ordinary`]).
unsafe extern "C" fn encode_u32(slf: *mut c_void, text: *mut c_void) -> *mut c_void {
    // SAFETY: as `encode_with`'s (CPython's call).
    unsafe { encode_with(slf, text, Some(&TIKTOKEN_DEFAULT), new_u32_bytearray) }
}

/// The `encode_all_special` builtin's body (as [`encode_ordinary`]).
unsafe extern "C" fn encode_all_special(slf: *mut c_void, text: *mut c_void) -> *mut c_void {
    // SAFETY: as `encode_with`'s (CPython's call).
    unsafe { encode_with(slf, text, Some(&ALL_SPECIAL), new_list) }
}

/// The `encode_all_special_u32` builtin's body (as [`encode_ordinary`]).
unsafe extern "C" fn encode_all_special_u32(slf: *mut c_void, text: *mut c_void) -> *mut c_void {
    // SAFETY: as `encode_with`'s (CPython's call).
    unsafe { encode_with(slf, text, Some(&ALL_SPECIAL), new_u32_bytearray) }
}

/// Lists of at least this many ids are decoded with the GIL released (an id takes about
/// a nanosecond; releasing, about as long as a few hundred).
const DECODE_GIL_RELEASE_MIN: usize = 1 << 12;

/// The `decode_bytes` builtin's body (`METH_O`: `slf` is the capsule, `ids` the list).
unsafe extern "C" fn decode_bytes(slf: *mut c_void, ids: *mut c_void) -> *mut c_void {
    // SAFETY: CPython calls this with the GIL held, `slf` our capsule and `ids` a live
    // object; `list_get`'s borrowed items are read before any other Python code can run
    // (reading an int runs none); `tok` lives as long as the binding holds `keepalive`.
    unsafe {
        let Some((api, binding)) = bound(slf) else { return std::ptr::null_mut() };
        let n = (api.list_size)(ids); // (SystemError for what is not a list)
        if n < 0 {
            return std::ptr::null_mut();
        }
        // (With the classic layout, the items where `PyList_GetItem` finds them.)
        let items = match binding.layout {
            Layout::Classic => ids.cast::<*mut c_void>().add(LIST_ITEMS_WORD).read().cast::<*mut c_void>(),
            Layout::Calls => std::ptr::null_mut(),
        };
        with_scratch_ids(|buf| {
            for i in 0..n {
                let item = if items.is_null() { (api.list_get)(ids, i) } else { items.offset(i).read() };
                let id = (api.long_as_ssize)(item);
                if id == -1 && !(api.err_occurred)().is_null() {
                    return std::ptr::null_mut();
                }
                let Ok(id) = u32::try_from(id) else {
                    return raise(api, binding, &format!("token id {id} is not in 0..2**32-1"));
                };
                buf.push(id);
            }
            let tok = &(*binding.tok).inner;
            let decode = || {
                catch_unwind(AssertUnwindSafe(|| tok.decode(buf).map_err(|e| e.to_string())))
                    .unwrap_or_else(|payload| Err(panic_message(&*payload)))
            };
            match without_gil_if(api, buf.len() >= DECODE_GIL_RELEASE_MIN, decode) {
                #[allow(clippy::cast_possible_wrap)] // a Vec's length never exceeds isize::MAX
                Ok(bytes) => (api.bytes_new)(bytes.as_ptr().cast(), bytes.len() as isize),
                Err(message) => raise(api, binding, &message),
            }
        })
    }
}

/// Special-token text as ordinary text.
const ORDINARY: SpecialPolicy<'static> =
    SpecialPolicy { allowed: Allowed::None, disallowed: Disallowed::None };

/// tiktoken's `encode(text)`: every special token's text disallowed.
const TIKTOKEN_DEFAULT: SpecialPolicy<'static> =
    SpecialPolicy { allowed: Allowed::None, disallowed: Disallowed::AllNotAllowed };

/// tiktoken's `encode(text, allowed_special="all")`: each special token's text its id.
const ALL_SPECIAL: SpecialPolicy<'static> =
    SpecialPolicy { allowed: Allowed::All, disallowed: Disallowed::None };

/// The batch builtins' policy for each value of their optional third item (0 without
/// it).
const BATCH_MODES: [SpecialPolicy<'static>; 3] = [ORDINARY, TIKTOKEN_DEFAULT, ALL_SPECIAL];

/// The interpreter's functions and the binding of the builtin whose capsule is `slf`, or
/// None (with the exception set, if CPython set one). GIL held.
unsafe fn bound<'a>(slf: *mut c_void) -> Option<(Api, &'a Binding)> {
    let &api = API.get()?;
    // SAFETY: the GIL is held and `slf` is a live object (caller's contract); our
    // capsule's pointer is a binding it owns, alive while the capsule is.
    unsafe { (api.capsule_get)(slf, CAPSULE_NAME.as_ptr()).cast::<Binding>().as_ref().map(|b| (api, b)) }
}

/// Sets the builtin's exception (`binding`'s error type) with `message`; returns NULL,
/// for the builtin to return. GIL held.
unsafe fn raise(api: Api, binding: &Binding, message: &str) -> *mut c_void {
    let message = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
    // SAFETY: the GIL is held (caller's contract); the error type is a live class (the
    // binding holds a reference).
    unsafe { (api.err_set_string)(binding.error_type, message.as_ptr()) };
    std::ptr::null_mut()
}

/// Encodes `text` under `policy` (None: [`ORDINARY`], by the shortest route) for a
/// builtin (`slf` its capsule) and returns `build` of the ids, or NULL with the
/// exception set. Called by CPython's call of a builtin: GIL held.
unsafe fn encode_with(
    slf: *mut c_void,
    text: *mut c_void,
    policy: Option<&SpecialPolicy<'_>>,
    build: unsafe fn(Api, &Binding, &[u32]) -> *mut c_void,
) -> *mut c_void {
    // SAFETY: CPython calls this with the GIL held, `slf` our capsule and `text` a live
    // object. The str's UTF-8 stays valid while `text` lives, which the caller ensures
    // for the whole call; `tok` lives as long as the binding holds `keepalive`.
    unsafe {
        let Some((api, binding)) = bound(slf) else { return std::ptr::null_mut() };
        let Some((bytes, owner)) = utf8_of(api, binding, text) else { return std::ptr::null_mut() };
        let tok = &(*binding.tok).inner;
        let list = with_scratch_ids(|ids| {
            let encode = || {
                catch_unwind(AssertUnwindSafe(|| {
                    let text = str_utf8(bytes); // (from `utf8_of`)
                    ids.reserve(text.len() / 3 + 1);
                    match policy {
                        None => tok.encode_into(text, Allowed::None, ids),
                        Some(policy) => tok.encode_with_into(text, policy, ids),
                    }
                    .map_err(|e| e.to_string())
                }))
                .unwrap_or_else(|payload| Err(panic_message(&*payload)))
            };
            let result = without_gil_if(api, bytes.len() >= GIL_RELEASE_MIN, encode);
            match result {
                Ok(()) => build(api, binding, ids),
                Err(message) => raise(api, binding, &message),
            }
        });
        owner.release(api);
        list
    }
}

/// Texts of at least this many characters are not read through
/// `PyUnicode_AsUTF8AndSize`, which would leave a UTF-8 copy in a non-ASCII str for its
/// whole life: for a few huge texts kept in memory that can double or triple what they
/// take. They are read in place ([`StrLayout`]; an ASCII str's characters are its UTF-8,
/// the others' are converted into a buffer of the call's), else through a temporary bytes
/// object. Shorter ones (documents) are read through that cached copy, as tiktoken reads
/// every str: a str encoded again, or read by another library first, then costs no
/// conversion, where converting on every call cost 15-20% of the encode of a non-ASCII
/// document of 10 KB.
const CACHED_UTF8_MAX_CHARS: isize = 1 << 16;

/// What holds the UTF-8 that [`utf8_of`] read, if not the str itself.
enum Owner {
    None,
    /// A bytes object (a reference held).
    Bytes(*mut c_void),
    /// A buffer of this call's.
    Buffer(Vec<u8>),
}

impl Owner {
    /// Lets the UTF-8 go. GIL held.
    unsafe fn release(self, api: Api) {
        if let Owner::Bytes(bytes) = self {
            // SAFETY: the GIL is held (caller's contract); a reference is held to `bytes`.
            unsafe { (api.dec_ref)(bytes) };
        }
    }
}

/// The UTF-8 of str `text` and what owns it if not `text` (to release after use), or None
/// with the exception set (`TypeError` for a non-str, `UnicodeEncodeError` for lone
/// surrogates). GIL held.
unsafe fn utf8_of<'a>(api: Api, binding: &Binding, text: *mut c_void) -> Option<(&'a [u8], Owner)> {
    // SAFETY: the GIL is held and `text` is live (caller's contract); the bytes stay
    // valid while `text` (or the returned owner: a buffer's heap memory does not move
    // with it) lives.
    unsafe {
        let chars = (api.unicode_get_length)(text);
        if chars < 0 {
            return None;
        }
        let mut len: isize = 0;
        if chars < CACHED_UTF8_MAX_CHARS {
            let data = (api.as_utf8)(text, &mut len);
            return (!data.is_null())
                .then(|| (std::slice::from_raw_parts(data.cast(), len.unsigned_abs()), Owner::None));
        }
        // (`unicode_get_length` succeeded: `text` is a str.)
        if let Some(units) = binding.str_layout.and_then(|layout| layout.units(text, chars.unsigned_abs())) {
            let mut buffer = Vec::new();
            let converted = match units {
                Units::Ascii(bytes) => return Some((bytes, Owner::None)),
                Units::Latin1(units) => code_points_to_utf8(units, &mut buffer).is_some(),
                Units::Ucs2(units) => code_points_to_utf8(units, &mut buffer).is_some(),
                Units::Ucs4(units) => code_points_to_utf8(units, &mut buffer).is_some(),
            };
            if converted {
                let bytes = std::slice::from_raw_parts(buffer.as_ptr(), buffer.len());
                return Some((bytes, Owner::Buffer(buffer)));
            }
            // A lone surrogate: CPython's conversion below raises its error.
        }
        let owner = (api.as_utf8_string)(text);
        if owner.is_null() {
            return None;
        }
        let mut p: *mut c_char = std::ptr::null_mut();
        if (api.bytes_as_string_and_size)(owner, &mut p, &mut len) != 0 || p.is_null() {
            (api.dec_ref)(owner);
            return None;
        }
        Some((std::slice::from_raw_parts(p.cast(), len.unsigned_abs()), Owner::Bytes(owner)))
    }
}

/// The list builtin's body (`METH_O`: `slf` is the capsule, `args` the argument).
unsafe extern "C" fn encode_ordinary_batch(slf: *mut c_void, args: *mut c_void) -> *mut c_void {
    // SAFETY: CPython calls this with the GIL held, `slf` our capsule and `args` a live
    // object (`encode_batch`'s contract).
    unsafe {
        let Some((api, binding, parts, n)) = encode_batch(slf, args) else {
            return std::ptr::null_mut();
        };
        let lists = (api.list_new)(n.cast_signed());
        if lists.is_null() {
            return lists;
        }
        for (i, ids) in (0..).zip(parts.texts()) {
            let item = new_list(api, binding, ids);
            if item.is_null() {
                (api.dec_ref)(lists);
                return std::ptr::null_mut();
            }
            set_item(api, binding.layout, lists, i, item);
        }
        lists
    }
}

/// The flat builtin's body: `[ids, offsets]` as bytearrays.
unsafe extern "C" fn encode_ordinary_batch_u32(slf: *mut c_void, args: *mut c_void) -> *mut c_void {
    // SAFETY: as in `encode_ordinary_batch`.
    unsafe {
        let Some((api, binding, parts, _)) = encode_batch(slf, args) else { return std::ptr::null_mut() };
        let offsets: Vec<u64> = parts.offsets().map(|o| o as u64).collect();
        let pair = (api.list_new)(2);
        if pair.is_null() {
            return pair;
        }
        let ids = new_bytearray_with(api, binding, parts.len() * 4, |out| {
            // Copied on the batch's threads, without the GIL; one group's copy is short
            // and serial, and keeps it (taking it back can wait for another thread).
            let copy = || catch_unwind(AssertUnwindSafe(|| parts.write(out)));
            without_gil_if(api, parts.groups() > 1, copy).map_err(|payload| panic_message(&*payload))
        });
        let offs = if ids.is_null() { ids } else { new_bytearray(api, binding, as_bytes(&offsets)) };
        if offs.is_null() {
            if !ids.is_null() {
                (api.dec_ref)(ids);
            }
            (api.dec_ref)(pair);
            return std::ptr::null_mut();
        }
        (api.list_set_item)(pair, 0, ids); // each takes the reference
        (api.list_set_item)(pair, 1, offs);
        pair
    }
}

/// Integers whose slices may be read as bytes: no padding, every byte initialized.
trait Word: Copy {}
impl Word for u32 {}
impl Word for u64 {}

/// The native-endian bytes of `items`.
fn as_bytes<T: Word>(items: &[T]) -> &[u8] {
    // SAFETY: a `Word` has no padding and every byte initialized, and a byte slice needs
    // no alignment; the bytes are borrowed for as long as `items`.
    unsafe { std::slice::from_raw_parts(items.as_ptr().cast::<u8>(), std::mem::size_of_val(items)) }
}

/// The batch builtins' encode: `args` is `(texts: list[str], num_threads: int)`; the ids
/// of all texts as the batch's groups left them, and the number of texts, or None with
/// the exception set.
///
/// Every text is held (a reference each) while the GIL is released, so another thread
/// that empties the list meanwhile cannot free a text being read.
unsafe fn encode_batch<'a>(slf: *mut c_void, args: *mut c_void) -> Option<(Api, &'a Binding, Parts, usize)> {
    // SAFETY: CPython calls the builtins with the GIL held, `slf` our capsule and `args`
    // a live object; the texts' UTF-8 stays valid while the references taken below are
    // held (they are given back after the last read); `tok` lives as long as the binding
    // holds `keepalive`.
    unsafe {
        let (api, binding) = bound(slf)?;
        let (list, threads) = ((api.tuple_get)(args, 0), (api.tuple_get)(args, 1));
        if list.is_null() || threads.is_null() {
            return None;
        }
        // (Each checked as it is made: no CPython call with an exception set.)
        let failed = |x: isize| x == -1 && !(api.err_occurred)().is_null();
        let threads = (api.long_as_ssize)(threads);
        if failed(threads) {
            return None;
        }
        let n = (api.list_size)(list);
        if failed(n) {
            return None;
        }
        // (A third item: the policy, as an index into BATCH_MODES.)
        let mode = match (api.tuple_size)(args) {
            2 => 0,
            3 => (api.long_as_ssize)((api.tuple_get)(args, 2)),
            size => {
                raise(api, binding, &format!("expected (texts, num_threads[, mode]), a tuple of {size}"));
                return None;
            }
        };
        if failed(mode) {
            return None;
        }
        let Some(policy) = usize::try_from(mode).ok().and_then(|m| BATCH_MODES.get(m)) else {
            raise(api, binding, &format!("mode must be 0, 1 or 2, not {mode}"));
            return None;
        };
        let Ok(threads) = usize::try_from(threads) else {
            raise(api, binding, &format!("num_threads must be 0 or more, not {threads}"));
            return None;
        };
        // (text, the object that owns its UTF-8 if not the text): each a reference held.
        let mut held: Vec<(&[u8], *mut c_void, Owner)> = Vec::with_capacity(n.unsigned_abs());
        let release = |held: Vec<(&[u8], *mut c_void, Owner)>| {
            for (_, text, owner) in held {
                (api.dec_ref)(text);
                owner.release(api);
            }
        };
        for i in 0..n {
            let text = (api.list_get)(list, i);
            let read = if text.is_null() { None } else { utf8_of(api, binding, text) };
            let Some((bytes, owner)) = read else {
                release(held);
                return None;
            };
            (api.inc_ref)(text);
            held.push((bytes, text, owner));
        }
        let tok = &(*binding.tok).inner;
        let result = without_gil_if(api, true, || {
            catch_unwind(AssertUnwindSafe(|| -> Result<Parts, String> {
                let texts: Vec<&str> = held.iter().map(|&(b, _, _)| str_utf8(b)).collect(); // (from `utf8_of`)
                check_threads(threads).map_err(|e| e.message)?;
                tok.encode_batch_threads(&texts, policy, threads).map_err(|e| e.to_string())
            }))
            .unwrap_or_else(|payload| Err(panic_message(&*payload)))
        });
        let texts = held.len();
        release(held);
        match result {
            Ok(parts) => Some((api, binding, parts, texts)),
            Err(message) => {
                raise(api, binding, &message);
                None
            }
        }
    }
}

/// A new bytearray of `ids` as native-endian `uint32`, or NULL with the exception set.
/// GIL held.
unsafe fn new_u32_bytearray(api: Api, binding: &Binding, ids: &[u32]) -> *mut c_void {
    // SAFETY: the GIL is held (caller's contract).
    unsafe { new_bytearray(api, binding, as_bytes(ids)) }
}

/// A new bytearray of `bytes`, or NULL with the exception set. GIL held.
unsafe fn new_bytearray(api: Api, binding: &Binding, bytes: &[u8]) -> *mut c_void {
    // SAFETY: the GIL is held (caller's contract).
    unsafe {
        new_bytearray_with(api, binding, bytes.len(), |out| {
            for (o, &b) in out.iter_mut().zip(bytes) {
                o.write(b);
            }
            Ok(())
        })
    }
}

/// A new bytearray of `len` bytes, written by `fill`, or NULL with the exception set
/// (`fill`'s error raised as the binding's). GIL held.
unsafe fn new_bytearray_with(
    api: Api,
    binding: &Binding,
    len: usize,
    fill: impl FnOnce(&mut [MaybeUninit<u8>]) -> Result<(), String>,
) -> *mut c_void {
    // SAFETY: the GIL is held; a new bytearray of `len` bytes has that many writable
    // (uninitialized) bytes at its data pointer (CPython allocates one more, for a NUL),
    // which no one else can reach until it is returned; `fill` writes them all.
    unsafe {
        let array = (api.bytearray_new)(std::ptr::null(), len.cast_signed());
        if array.is_null() {
            return array;
        }
        let data = (api.bytearray_data)(array);
        if data.is_null() {
            (api.dec_ref)(array);
            return std::ptr::null_mut();
        }
        if let Err(message) = fill(std::slice::from_raw_parts_mut(data.cast::<MaybeUninit<u8>>(), len)) {
            (api.dec_ref)(array);
            return raise(api, binding, &message);
        }
        array
    }
}

/// A new list of `ids` as ints (`binding`'s kept ones), or NULL with the exception set.
/// GIL held.
unsafe fn new_list(api: Api, binding: &Binding, ids: &[u32]) -> *mut c_void {
    #[allow(clippy::cast_possible_wrap)] // a Vec's length never exceeds isize::MAX
    let n = ids.len() as isize;
    // SAFETY: the GIL is held; a new list of `n` items has `n` empty slots, in range.
    unsafe {
        let list = (api.list_new)(n);
        if list.is_null() {
            return list;
        }
        for (i, &id) in (0..n).zip(ids) {
            let item = binding.int(api, id);
            if item.is_null() {
                (api.dec_ref)(list);
                return std::ptr::null_mut();
            }
            set_item(api, binding.layout, list, i, item);
        }
        list
    }
}

/// Puts `item` (its reference taken) in the empty slot `i` of the new `list`.
/// GIL held; `i` in range.
#[inline]
unsafe fn set_item(api: Api, layout: Layout, list: *mut c_void, i: isize, item: *mut c_void) {
    // SAFETY: the GIL is held and `i` is in range (caller's contract); with the classic
    // layout the list's item array pointer is its `LIST_ITEMS_WORD`th word (see `Layout`),
    // and the slot of a new list is empty (what `PyList_SET_ITEM` stores into).
    unsafe {
        if layout == Layout::Classic {
            let items = list.cast::<*mut c_void>().add(LIST_ITEMS_WORD).read().cast::<*mut c_void>();
            items.offset(i).write(item);
        } else {
            (api.list_set_item)(list, i, item);
        }
    }
}
