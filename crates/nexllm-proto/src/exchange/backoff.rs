//! Exponential backoff with jitter, as the official OpenAI SDKs compute it.

use std::time::Duration;

use super::jitter::Jitter;

/// The first retry waits about this long.
pub const INITIAL_RETRY_DELAY: Duration = Duration::from_millis(500);
/// No computed backoff is longer than this.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(8);
/// Jitter shortens a delay by up to this fraction.
pub const JITTER_FRACTION: f64 = 0.25;

/// The delay before retry number `retry` (1 for the first retry):
/// `0.5 s × 2^(retry-1)`, capped at 8 s, then shortened by up to 25 %.
pub(crate) fn backoff_delay(retry: u32, jitter: &mut Jitter) -> Duration {
    let exponent = retry.saturating_sub(1).min(16);
    let base = INITIAL_RETRY_DELAY.as_secs_f64() * f64::from(1u32 << exponent);
    let capped = base.min(MAX_RETRY_DELAY.as_secs_f64());
    let factor = 1.0 - JITTER_FRACTION * jitter.next_unit();
    Duration::from_secs_f64(capped * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_half_a_second_up_to_eight_with_jitter() {
        let expected_max = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0];
        let mut jitter = Jitter::new(7);
        for (i, max) in expected_max.iter().enumerate() {
            for _ in 0..200 {
                let d = backoff_delay(i as u32 + 1, &mut jitter).as_secs_f64();
                assert!(d <= *max + 1e-9, "retry {}: {d} > {max}", i + 1);
                assert!(
                    d >= max * 0.75 - 1e-9,
                    "retry {}: {d} < {}",
                    i + 1,
                    max * 0.75
                );
            }
        }
        // A huge retry count neither overflows nor passes the cap.
        assert!(backoff_delay(u32::MAX, &mut jitter) <= MAX_RETRY_DELAY);
    }
}
