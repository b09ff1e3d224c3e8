//! Worker pools for parallel work (batch encodes, training), one per size and shared by
//! every caller in the process, started on first use.
//!
//! After `fork()`, a child has copies of the parent's pools but none of their threads:
//! work sent to them would wait forever (so would work sent to rayon's global pool). A
//! pool asked for in another process than the one that started it is therefore started
//! again, and the parent's copies are set aside, never used or dropped (dropping would
//! signal threads that do not exist here; forgetting them would look like a leak).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};

/// The threads a pool of size 0 gets: `RAYON_NUM_THREADS` if set to a positive number,
/// else one per core (rayon's own default). Read once per process (finding the cores
/// reads several files).
pub fn default_threads() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// Forks seen by [`forked`].
static FORKS: AtomicU64 = AtomicU64::new(0);

/// Tells the registry that this is a forked child (a `pthread_atfork` child handler calls
/// it: the C ABI installs one). Besides the pid check, this catches a child whose pid
/// equals that of a process which used the pools before (pids are reused).
pub fn forked() {
    FORKS.fetch_add(1, Relaxed);
}

struct Pools {
    /// The process that started `pools`, and the forks seen then.
    pid: u32,
    forks: u64,
    /// A handful of sizes: a Vec rather than a map (and valgrind sees its pointers).
    pools: Vec<(usize, Arc<rayon::ThreadPool>)>,
    /// Pools inherited through fork(): threadless here.
    inherited: Vec<(usize, Arc<rayon::ThreadPool>)>,
}

/// The shared pool of `n` threads (0: [`default_threads`]).
///
/// # Errors
/// [`crate::ErrorKind::InvalidArg`] if the threads cannot be started.
pub fn shared(n: usize) -> Result<Arc<rayon::ThreadPool>> {
    static POOLS: OnceLock<Mutex<Pools>> = OnceLock::new();
    let n = if n == 0 { default_threads() } else { n };
    let (pid, forks) = (std::process::id(), FORKS.load(Relaxed));
    let registry =
        POOLS.get_or_init(|| Mutex::new(Pools { pid, forks, pools: Vec::new(), inherited: Vec::new() }));
    let mut registry = registry.lock().unwrap_or_else(|e| e.into_inner());
    if registry.pid != pid || registry.forks != forks {
        // A forked child: the parent's pools have no threads here.
        let Pools { pools, inherited, .. } = &mut *registry;
        inherited.append(pools);
        (registry.pid, registry.forks) = (pid, forks);
    }
    if let Some((_, p)) = registry.pools.iter().find(|(size, _)| *size == n) {
        return Ok(Arc::clone(p));
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| Error::invalid_arg(format!("cannot start {n} threads: {e}")))?;
    let p = Arc::new(p);
    registry.pools.push((n, Arc::clone(&p)));
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::{forked, shared};
    use std::sync::Arc;

    #[test]
    fn one_pool_per_size_until_a_fork_sets_them_aside() {
        let a = shared(3).unwrap();
        assert!(Arc::ptr_eq(&a, &shared(3).unwrap()));
        assert_eq!(a.current_num_threads(), 3);
        forked(); // as the pthread_atfork child handler does (no real fork here)
        let b = shared(3).unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(b.install(rayon::current_num_threads), 3);
        assert!(Arc::ptr_eq(&b, &shared(3).unwrap()));
    }
}
