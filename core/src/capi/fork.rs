//! A `pthread_atfork` child handler that tells the worker-pool registry it runs in a
//! forked child (`crate::pools::forked`), installed once by the exports that use pools.
//! The registry also compares pids; the handler covers a child that got the pid of a
//! process that used the pools before.

/// Installs the handler (once per process; nothing to do off Unix).
pub(crate) fn watch_forks() {
    #[cfg(unix)]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            extern "C" fn child() {
                crate::pools::forked(); // an atomic add: safe in a fork handler
            }
            extern "C" {
                fn pthread_atfork(
                    prepare: Option<extern "C" fn()>,
                    parent: Option<extern "C" fn()>,
                    child: Option<extern "C" fn()>,
                ) -> std::ffi::c_int;
            }
            // SAFETY: registers a handler that only does an atomic add; the function is
            // in every Unix C library (glibc, musl, macOS).
            unsafe {
                pthread_atfork(None, None, Some(child));
            }
        });
    }
}
