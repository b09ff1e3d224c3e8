//! Worker pools for parallel work (batch encodes, training), shared by every caller in the
//! process and started on first use.
//!
//! # Which pools are kept
//!
//! A request for `n` threads (0: [`default_threads`]) runs on a pool of
//! `min(n, `[`max_threads`]`())` threads: more than [`THREADS_PER_CORE`] per core only
//! share the cores and cost memory. The registry keeps the [`KEPT_POOLS`] most recently
//! used pools; asking for another size starts a pool and drops the least recently used
//! one, whose threads end as soon as the calls running on it return (each call holds its
//! pool's `Arc`). So the kept pools have at most `KEPT_POOLS * max_threads()` threads,
//! plus, for a moment, those of dropped pools still finishing calls. Each pool is a
//! rayon pool: its threads sleep when idle.
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

/// How many pools the registry keeps (the most recently used ones).
pub const KEPT_POOLS: usize = 4;

/// The most threads a pool gets per core (see [`max_threads`]).
pub const THREADS_PER_CORE: usize = 4;

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

/// The most threads a pool gets: [`THREADS_PER_CORE`] per core, or [`default_threads`] if
/// that is more. A request for more runs on a pool of this size.
pub fn max_threads() -> usize {
    (THREADS_PER_CORE * cores()).max(default_threads())
}

/// The size of the pool that serves a request for `n` threads (0: the default).
pub fn pool_size(n: usize) -> usize {
    if n == 0 {
        default_threads()
    } else {
        n.min(max_threads())
    }
}

/// Forks seen by [`after_fork`] in a child.
static FORKS: AtomicU64 = AtomicU64::new(0);

struct Pools {
    /// The process that started `pools` (0: none yet), and the forks seen then.
    pid: u32,
    forks: u64,
    /// `(size, pool)`, most recently used first; at most [`KEPT_POOLS`]. A Vec rather
    /// than a map: a handful of entries (and valgrind sees its pointers).
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

    /// The kept pool of `n` threads, now the most recently used one.
    fn find(&mut self, n: usize) -> Option<Arc<rayon::ThreadPool>> {
        let i = self.pools.iter().position(|(size, _)| *size == n)?;
        self.pools[..=i].rotate_right(1);
        Some(Arc::clone(&self.pools[0].1))
    }

    /// Keeps `pool` (of `n` threads) as the most recently used one; returns the pool this
    /// drops from the registry, if any.
    fn keep(&mut self, n: usize, pool: Arc<rayon::ThreadPool>) -> Option<Arc<rayon::ThreadPool>> {
        self.pools.insert(0, (n, pool));
        if self.pools.len() > KEPT_POOLS {
            self.pools.pop().map(|(_, p)| p)
        } else {
            None
        }
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

/// The shared pool for a request of `n` threads (0: [`default_threads`]; more than
/// [`max_threads`]: that many), started if the registry does not keep one of that size.
///
/// # Errors
/// [`crate::ErrorKind::InvalidArg`] if the threads cannot be started.
pub fn shared(n: usize) -> Result<Arc<rayon::ThreadPool>> {
    let n = pool_size(n);
    let mut registry = lock();
    registry.check_process(std::process::id(), FORKS.load(Relaxed));
    if let Some(pool) = registry.find(n) {
        return Ok(pool);
    }
    let pool = start(n)?;
    let dropped = registry.keep(n, Arc::clone(&pool));
    drop(registry);
    drop(dropped); // (outside the lock: this wakes its threads to end)
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
    use super::{
        after_fork, before_fork, lock, max_threads, pool_size, shared, start, Pools, KEPT_POOLS, POOLS,
    };
    use std::sync::{Arc, Mutex};

    /// Tests that use the process-wide registry much, or fork for pretend, take turns.
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
    fn the_most_recently_used_pools_are_kept() {
        let mut reg = Pools::new();
        reg.check_process(1, 0);
        let sizes: Vec<usize> = (1..=KEPT_POOLS + 1).collect();
        let pools: Vec<_> = sizes.iter().map(|&n| start(n).unwrap()).collect();
        for (i, (&n, p)) in sizes.iter().zip(&pools).enumerate() {
            assert!(reg.find(n).is_none());
            let dropped = reg.keep(n, Arc::clone(p));
            // The first KEPT_POOLS fit; then the least recently used one goes.
            assert_eq!(dropped.is_some(), i >= KEPT_POOLS);
        }
        assert!(reg.find(sizes[0]).is_none());
        // The pool dropped from the registry still serves whoever holds it.
        assert_eq!(pools[0].install(rayon::current_num_threads), 1);
        // Finding a pool makes it the most recently used one: the next to go is sizes[2].
        assert!(Arc::ptr_eq(&reg.find(sizes[1]).unwrap(), &pools[1]));
        let dropped = reg.keep(100, start(1).unwrap()).unwrap();
        assert!(Arc::ptr_eq(&dropped, &pools[2]));
        assert_eq!(reg.pools.len(), KEPT_POOLS);
        // Another process: every pool is set aside (kept, never used or dropped).
        reg.check_process(2, 0);
        assert!(reg.pools.is_empty() && reg.find(sizes[1]).is_none());
        assert_eq!(reg.inherited.len(), KEPT_POOLS);
        reg.check_process(2, 1);
        assert_eq!(reg.inherited.len(), KEPT_POOLS);
    }

    #[test]
    fn sizes_are_capped() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(pool_size(0), super::default_threads());
        assert_eq!(pool_size(1), 1);
        assert_eq!(pool_size(usize::MAX), max_threads());
        assert!(max_threads() >= super::default_threads());
        assert_eq!(shared(usize::MAX).unwrap().current_num_threads(), max_threads());
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
