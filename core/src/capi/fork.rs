//! `pthread_atfork` handlers, so that a forked child never waits on a lock that a thread
//! of the parent held at the fork (that thread does not exist in the child), installed by
//! the first call into the library (`super::boundary::call`, before the call does
//! anything), so before any thread can hold one of those locks.
//!
//! - prepare (in the forking thread, before the fork): first lets every one-time
//!   initialization that another thread may be running finish (a child would otherwise
//!   get it marked "running" and wait for it forever), then takes the worker-pool
//!   registry's lock (`crate::pools::before_fork`);
//! - parent and child (in the forking thread, after the fork): release that lock; the
//!   child's also marks the parent's pools stale (`crate::pools::after_fork`).
//!
//! The one-time initializations a batch call or training can wait on: the splitter's
//! class tables (`crate::split`, built by the first `Pattern` of a named pattern) and
//! crossbeam-epoch's global collector (the first rayon worker to steal work sets it up;
//! a new pool's threads in the child would wait for it).
//!
//! Design notes
//! - The handlers are installed lazily, by the first call, rather than by a library
//!   constructor: a flag (not a `Once`, which a child could inherit "running") says they
//!   are in. Two threads that race to install them may both do it; the handlers nest
//!   (`crate::pools::before_fork` counts), so that is harmless. Installing them at the
//!   first pool use instead would miss a child forked while another thread built the
//!   first pattern's tables.
//! - A process that never used a named pattern builds the splitter's tables at its first
//!   fork (once).
//! - Taking the lock in prepare makes a fork wait for a pool start-up in progress: the
//!   price of never copying the registry mid-update.

/// Installs the handlers (nothing to do off Unix).
pub(crate) fn watch_forks() {
    #[cfg(unix)]
    {
        use std::sync::atomic::{AtomicBool, Ordering};
        static INSTALLED: AtomicBool = AtomicBool::new(false);
        if INSTALLED.load(Ordering::Acquire) {
            return;
        }
        extern "C" fn prepare() {
            // (These do not panic, but a panic must not cross into C, and the fork goes on.)
            let _ = std::panic::catch_unwind(|| {
                crate::split::tables_ready();
                crossbeam_epoch::default_collector();
            });
            crate::pools::before_fork();
        }
        extern "C" fn parent() {
            crate::pools::after_fork(false);
        }
        extern "C" fn child() {
            crate::pools::after_fork(true);
        }
        extern "C" {
            fn pthread_atfork(
                prepare: Option<extern "C" fn()>,
                parent: Option<extern "C" fn()>,
                child: Option<extern "C" fn()>,
            ) -> std::ffi::c_int;
        }
        // SAFETY: registers three handlers that do not unwind or fork, and take no lock
        // that a thread could hold while it forks or installs fork handlers; the
        // function is in every Unix C library (glibc, musl, macOS).
        if unsafe { pthread_atfork(Some(prepare), Some(parent), Some(child)) } == 0 {
            INSTALLED.store(true, Ordering::Release);
        }
    }
}
