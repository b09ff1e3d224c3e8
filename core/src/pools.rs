//! Worker pools for parallel work (batch encodes, training), one per size and shared by
//! every caller in the process, started on first use.
//!
//! # fork()
//!
//! After `fork()`, a child has copies of the parent's pools but none of their threads:
//! work sent to them would wait forever (so would work sent to rayon's global pool). A
//! pool asked for in another process than the one that started it is therefore started
//! again, and the parent's copies are set aside, never used or dropped (dropping would
//! signal threads that do not exist here; forgetting them would look like a leak).
//!
//! Nor may a child wait on a lock that a thread of the parent held at the fork: that
//! thread does not exist in the child. The C ABI installs `pthread_atfork` handlers that
//! call [`before_fork`] and [`after_fork`]: the forking thread takes the registry's lock
//! before the fork and releases it after, in the parent and in the child, so the child
//! never gets a registry in the middle of an update. Nothing here waits on a one-time
//! initialization either ([`default_threads`] is a plain atomic).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};

/// A value computed once per process, without a lock: 0 until the first call, which may
/// run on several threads at once (they compute the same value).
fn cached(cell: &AtomicUsize, compute: impl FnOnce() -> usize) -> usize {
    match cell.load(Relaxed) {
        0 => {
            let n = compute().max(1);
            cell.store(n, Relaxed);
            n
        }
        n => n,
    }
}

/// The cores this process may use (`std::thread::available_parallelism`: the CPU
/// affinity mask and cgroup quota); read once per process (it reads several files).
fn cores() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    cached(&N, || std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The threads a pool of size 0 gets: `RAYON_NUM_THREADS` if set to a positive number,
/// else one per core (rayon's own default). Read once per process.
pub fn default_threads() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    cached(&N, || {
        std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(cores)
    })
}

/// Forks seen by [`after_fork`] in a child.
static FORKS: AtomicU64 = AtomicU64::new(0);

struct Pools {
    /// The process that started `pools` (0: none yet), and the forks seen then.
    pid: u32,
    forks: u64,
    /// `(size, pool)`. A Vec rather than a map: a handful of sizes (and valgrind sees its
    /// pointers).
    pools: Vec<(usize, Arc<rayon::ThreadPool>)>,
    /// Pools inherited through fork(): threadless here.
    inherited: Vec<Arc<rayon::ThreadPool>>,
}

impl Pools {
    const fn new() -> Self {
        Pools { pid: 0, forks: 0, pools: Vec::new(), inherited: Vec::new() }
    }

    /// Sets the pools aside if this is another process than the one that started them.
    fn check_process(&mut self, pid: u32, forks: u64) {
        if (self.pid, self.forks) != (pid, forks) {
            self.inherited.extend(self.pools.drain(..).map(|(_, p)| p));
            (self.pid, self.forks) = (pid, forks);
        }
    }

    /// The pool of `n` threads, if started.
    fn find(&self, n: usize) -> Option<Arc<rayon::ThreadPool>> {
        self.pools.iter().find(|(size, _)| *size == n).map(|(_, p)| Arc::clone(p))
    }
}

static POOLS: Mutex<Pools> = Mutex::new(Pools::new());

fn lock() -> MutexGuard<'static, Pools> {
    // Nothing panics while the lock is held but pool start-up, which leaves the registry
    // as it was.
    POOLS.lock().unwrap_or_else(|e| e.into_inner())
}

fn start(n: usize) -> Result<Arc<rayon::ThreadPool>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| Error::invalid_arg(format!("cannot start {n} threads: {e}")))?;
    Ok(Arc::new(pool))
}

/// The shared pool of `n` threads (0: [`default_threads`]).
///
/// # Errors
/// [`crate::ErrorKind::InvalidArg`] if the threads cannot be started.
pub fn shared(n: usize) -> Result<Arc<rayon::ThreadPool>> {
    let n = if n == 0 { default_threads() } else { n };
    let mut registry = lock();
    registry.check_process(std::process::id(), FORKS.load(Relaxed));
    if let Some(pool) = registry.find(n) {
        return Ok(pool);
    }
    let pool = start(n)?;
    registry.pools.push((n, Arc::clone(&pool)));
    Ok(pool)
}

thread_local! {
    /// The registry's lock while this thread forks (from [`before_fork`] to
    /// [`after_fork`]), and how many `before_fork` calls are not yet matched (the
    /// handlers may be installed more than once).
    static FORKING: RefCell<(usize, Option<MutexGuard<'static, Pools>>)> = const { RefCell::new((0, None)) };
}

/// To call right before `fork()` (a `pthread_atfork` prepare handler): takes the
/// registry's lock, waiting for any other thread to finish with it, and keeps it until
/// [`after_fork`] on this thread.
pub fn before_fork() {
    let _ = FORKING.try_with(|forking| {
        if let Ok(mut forking) = forking.try_borrow_mut() {
            if forking.0 == 0 {
                forking.1 = Some(lock());
            }
            forking.0 += 1;
        }
    });
}

/// To call right after `fork()` in the parent and in the child (`child`): releases what
/// [`before_fork`] took. In the child, also marks the pools stale: besides the pid
/// check, this catches a child that got the pid of a process which used the pools
/// before (pids are reused).
pub fn after_fork(child: bool) {
    if child {
        FORKS.fetch_add(1, Relaxed);
    }
    let _ = FORKING.try_with(|forking| {
        if let Ok(mut forking) = forking.try_borrow_mut() {
            forking.0 = forking.0.saturating_sub(1);
            if forking.0 == 0 {
                forking.1 = None;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::{after_fork, before_fork, lock, shared, POOLS};
    use std::sync::{Arc, Mutex};

    /// Tests that fork for pretend (the registry is process-wide) take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn one_pool_per_size_until_a_fork_sets_them_aside() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let a = shared(3).unwrap();
        assert!(Arc::ptr_eq(&a, &shared(3).unwrap()));
        assert_eq!(a.current_num_threads(), 3);
        // As the pthread_atfork handlers do around a fork, in the child (no real fork).
        before_fork();
        after_fork(true);
        let b = shared(3).unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(b.install(rayon::current_num_threads), 3);
        assert!(Arc::ptr_eq(&b, &shared(3).unwrap()));
    }

    #[test]
    fn fork_handlers_hold_the_lock_in_between_and_nest() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let held = || std::thread::spawn(|| POOLS.try_lock().is_err()).join().unwrap();
        before_fork();
        before_fork(); // as if the handlers were installed twice
        assert!(held());
        after_fork(false);
        assert!(held());
        after_fork(false);
        drop(std::thread::spawn(|| drop(lock())).join()); // another thread can take it
    }
}
