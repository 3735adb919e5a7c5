//! A global allocator that counts allocations while counting is switched on.
//!
//! Every call that asks the system allocator for memory counts once: `alloc`,
//! `alloc_zeroed` and `realloc` (a `realloc` may move the block, so it costs like an
//! allocation). Frees are not counted. When counting is off the only extra work is
//! one relaxed atomic load per call, the same for every row.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Wraps [`System`], counting allocations while [`Counting`] is alive.
#[derive(Debug)]
pub struct CountingAllocator;

static ENABLED: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

impl CountingAllocator {
    fn count() {
        if ENABLED.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged;
// counting touches only atomics and never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::count();
        // SAFETY: forwarded as received; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::count();
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System`'s.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Counts allocations (of every thread) from its creation until [`Counting::stop`].
#[derive(Debug)]
pub struct Counting {
    start_allocations: u64,
}

/// What a [`Counting`] window saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allocations {
    /// Calls that allocated or reallocated.
    pub count: u64,
}

impl Counting {
    /// Switches counting on.
    pub fn start() -> Counting {
        let counting = Counting {
            start_allocations: ALLOCATIONS.load(Ordering::SeqCst),
        };
        ENABLED.store(true, Ordering::SeqCst);
        counting
    }

    /// Switches counting off and returns what was counted.
    pub fn stop(self) -> Allocations {
        ENABLED.store(false, Ordering::SeqCst);
        Allocations {
            count: ALLOCATIONS.load(Ordering::SeqCst) - self.start_allocations,
        }
    }
}
