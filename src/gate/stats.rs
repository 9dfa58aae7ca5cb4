//! The order statistics behind the tail checks: the ranks of a distribution-free interval for a
//! quantile, and the value at a rank. (The level's fits live in `segment`.)

use hdrhistogram::Histogram;

/// z of a two-sided 95% normal interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Ranks (1-based, inclusive) of the order statistics that bound a distribution-free 95%
/// interval for quantile `q` from `n` samples: `nq -/+ 1.96 sqrt(nq(1-q))`, rounded outwards.
/// `None` when either rank falls outside `1..=n` (too few samples for a two-sided bound: below
/// 381 for q = 0.99 with this normal approximation of the binomial).
pub fn interval_ranks(n: u64, q: f64) -> Option<(u64, u64)> {
    if n == 0 || !(q > 0.0 && q < 1.0) {
        return None;
    }
    let nq = n as f64 * q;
    let half = Z95 * (nq * (1.0 - q)).sqrt();
    let lo = (nq - half).floor();
    let hi = (nq + half).ceil();
    if lo < 1.0 || hi > n as f64 {
        return None;
    }
    Some((lo as u64, hi as u64))
}

/// The value of the sample of 1-based rank `rank` in `hist` (to the histogram's precision).
/// Asks for the quantile half a rank below, so that hdrhistogram's `ceil(q * n)` lands on `rank`
/// despite rounding.
pub fn value_at_rank(hist: &Histogram<u64>, rank: u64) -> u64 {
    let n = hist.len();
    if n == 0 {
        return 0;
    }
    let rank = rank.clamp(1, n);
    hist.value_at_quantile((rank as f64 - 0.5) / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use loadgen::snapshot::new_histogram;

    #[test]
    fn interval_ranks_match_hand_computation() {
        // n = 2000, q = 0.99: nq = 1980, sqrt(1980 * 0.01) = 4.4497, * 1.96 = 8.721.
        assert_eq!(interval_ranks(2000, 0.99), Some((1971, 1989)));
        // n = 5000: nq = 4950, sqrt(49.5) = 7.0356, * 1.96 = 13.789.
        assert_eq!(interval_ranks(5000, 0.99), Some((4936, 4964)));
        // median of 100: 50 -/+ 1.96 * 5 = 9.8.
        assert_eq!(interval_ranks(100, 0.5), Some((40, 60)));
    }

    #[test]
    fn interval_ranks_refuse_too_few_samples() {
        assert_eq!(interval_ranks(0, 0.99), None);
        assert_eq!(interval_ranks(100, 0.99), None);
        assert_eq!(interval_ranks(368, 0.99), None);
        assert_eq!(interval_ranks(380, 0.99), None);
        assert!(interval_ranks(381, 0.99).is_some());
        assert_eq!(interval_ranks(1000, 1.0), None);
        assert_eq!(interval_ranks(1000, f64::NAN), None);
    }

    #[test]
    fn value_at_rank_finds_order_statistics() {
        let mut h = new_histogram();
        for v in 1..=100u64 {
            h.record(v).expect("in range");
        }
        // Below 256 a 2-digit histogram is exact.
        assert_eq!(value_at_rank(&h, 1), 1);
        assert_eq!(value_at_rank(&h, 37), 37);
        assert_eq!(value_at_rank(&h, 100), 100);
        assert_eq!(value_at_rank(&h, 1000), 100);
        assert_eq!(value_at_rank(&new_histogram(), 3), 0);
    }
}
