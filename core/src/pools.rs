//! Worker pools for parallel work (batch encodes, training), one per size and shared by
//! every caller in the process, started on first use.
//!
//! After `fork()`, a child has copies of the parent's pools but none of their threads:
//! work sent to them would wait forever (so would work sent to rayon's global pool). A
//! pool asked for in another process than the one that started it is therefore started
//! again, and the parent's copies are set aside, never used or dropped (dropping would
//! signal threads that do not exist here; forgetting them would look like a leak).

use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};

/// The threads a pool of size 0 gets: `RAYON_NUM_THREADS` if set to a positive number,
/// else one per core (rayon's own default).
pub fn default_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

struct Pools {
    /// The process that started `pools`.
    pid: u32,
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
    let pid = std::process::id();
    let registry = POOLS.get_or_init(|| Mutex::new(Pools { pid, pools: Vec::new(), inherited: Vec::new() }));
    let mut registry = registry.lock().unwrap_or_else(|e| e.into_inner());
    if registry.pid != pid {
        // A forked child: the parent's pools have no threads here.
        let Pools { pools, inherited, .. } = &mut *registry;
        inherited.append(pools);
        registry.pid = pid;
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
