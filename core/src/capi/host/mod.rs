//! The host seam: exports that exist for one host's sake, declared in
//! `include/bpekit_host.h` (generated from this module alone) rather than in
//! `include/bpekit.h`.
//!
//! They are outside the ABI promise: any release may change or drop them, and only the
//! Python package bundled with the same library calls them. What is here and why:
//! - [`python`]: a CPython builtin function for `encode_ordinary`, made with the
//!   interpreter's own C API functions (CPython calls it without libffi's per-call cost);
//! - [`compact`]: ordinary encodes that take a NUL-terminated text and return the ids
//!   (or a negated status) in the result itself, for cffi's ABI mode, where each
//!   argument and each output buffer of a call costs time.
//!
//! Everything else a host needs is in the host-neutral header; a host-only call that
//! another host turns out to need moves there, under the ABI rules of `bpekit.h`.

pub mod compact;
pub mod python;

/// Runs `f` on this thread's id buffer, emptied: it saves an allocation per call. If
/// `f` re-enters (a Python finalizer run while a list is built, say), the inner call
/// gets a fresh buffer. At most 256 KiB stays per thread.
fn with_scratch_ids<R>(f: impl FnOnce(&mut Vec<u32>) -> R) -> R {
    thread_local! {
        static IDS: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut f = Some(f);
    let mut run = |ids: &mut Vec<u32>| {
        ids.clear();
        let result = f.take().map(|f| f(ids));
        if ids.capacity() > 1 << 16 {
            *ids = Vec::new();
        }
        result
    };
    // (A thread being torn down has no buffer: a fresh one then, too.)
    let pooled = IDS.try_with(|scratch| scratch.try_borrow_mut().ok().map(|mut ids| run(&mut ids)));
    match pooled.ok().flatten().flatten() {
        Some(result) => result,
        None => run(&mut Vec::new()).expect("f runs once"),
    }
}
