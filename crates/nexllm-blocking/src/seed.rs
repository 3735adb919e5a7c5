//! Seeds for the exchange's jitter and idempotency keys, without a `rand`
//! dependency: the standard library's randomly keyed hasher over a counter.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh seed: unpredictable across processes, distinct within one.
pub(crate) fn next_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ() {
        let seeds: std::collections::HashSet<u64> = (0..100).map(|_| next_seed()).collect();
        assert_eq!(seeds.len(), 100);
    }
}
