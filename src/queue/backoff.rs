//! Retry delays: exponential backoff with jitter, capped.

use std::time::Duration;

use rand::Rng;

/// The delay before retry number `attempt` (1-based: the delay after the first failure is
/// about `base`): `base * 2^(attempt-1)` capped at `cap`, then "equal jitter" — a uniformly
/// random point in the upper half — so replicas retrying the same forge spread out.
pub fn backoff_delay(attempt: u32, base: Duration, cap: Duration, rng: &mut impl Rng) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let full = base.saturating_mul(1u32 << exp).min(cap);
    let half = full / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(if jitter_ms == 0 {
        0
    } else {
        rng.random_range(0..=jitter_ms)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn grows_exponentially_within_jitter_and_respects_the_cap() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(2);
        for attempt in 1..=10 {
            let full = (base * 2u32.pow(attempt - 1)).min(cap);
            for _ in 0..50 {
                let d = backoff_delay(attempt, base, cap, &mut rng);
                assert!(
                    d >= full / 2 && d <= full,
                    "attempt {attempt}: {d:?} vs {full:?}"
                );
            }
        }
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let d = backoff_delay(
            u32::MAX,
            Duration::from_secs(1),
            Duration::from_secs(60),
            &mut rng,
        );
        assert!(d <= Duration::from_secs(60) && d >= Duration::from_secs(30));
    }
}
