//! The statistics behind the verdict: an order-statistic interval for a quantile, the
//! Mann-Kendall trend test, the Theil-Sen slope and the noise of a slope. Pure functions over a
//! few numbers; the only histogram work is a handful of quantile look-ups.

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

/// Mann-Kendall trend statistic z of `xs` taken in order, with the variance corrected for ties
/// (histogram values are quantised, so equal values happen) and the usual continuity correction.
/// Positive z = rising. `None` for fewer than 3 values or when every value is equal.
pub fn mann_kendall_z(xs: &[f64]) -> Option<f64> {
    let n = xs.len();
    if n < 3 {
        return None;
    }
    let mut s: i64 = 0;
    for i in 0..n {
        for j in i + 1..n {
            if xs[j] > xs[i] {
                s += 1;
            } else if xs[j] < xs[i] {
                s -= 1;
            }
        }
    }
    let nf = n as f64;
    let mut var = nf * (nf - 1.0) * (2.0 * nf + 5.0);
    for t in tie_groups(xs) {
        let t = t as f64;
        var -= t * (t - 1.0) * (2.0 * t + 5.0);
    }
    let var = var / 18.0;
    if var <= 0.0 {
        return None;
    }
    let s = s as f64;
    let z = if s > 0.0 {
        (s - 1.0) / var.sqrt()
    } else if s < 0.0 {
        (s + 1.0) / var.sqrt()
    } else {
        0.0
    };
    Some(z)
}

/// Sizes of the groups of equal values in `xs` (groups of one included; they add nothing).
fn tie_groups(xs: &[f64]) -> Vec<usize> {
    let mut sorted: Vec<f64> = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut groups = Vec::new();
    let mut run = 1;
    for pair in sorted.windows(2) {
        if pair[0] == pair[1] {
            run += 1;
        } else {
            groups.push(run);
            run = 1;
        }
    }
    groups.push(run);
    groups
}

/// Theil-Sen slope: the median of the slopes between every pair of points with distinct x.
/// `None` for fewer than 2 such pairs' worth of points.
pub fn theil_sen_slope(points: &[(f64, f64)]) -> Option<f64> {
    let mut slopes = Vec::with_capacity(points.len() * points.len() / 2);
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            let dx = b.0 - a.0;
            if dx != 0.0 {
                slopes.push((b.1 - a.1) / dx);
            }
        }
    }
    median(&mut slopes)
}

/// Scale (standard deviation) of the noise around a smooth curve, estimated robustly from
/// successive differences: `1.4826 * median |y[i+1] - y[i]| / sqrt 2`. A trend only adds its
/// step per value, small next to the scatter for the trends that matter (10% over 12 windows is
/// under 1% per window), and a bend adds nothing more, so this reads scatter, not movement, unlike
/// the spread of the pairwise slopes; one wild value moves the median little. `None` for fewer
/// than 3 values.
pub fn noise_scale(ys: &[f64]) -> Option<f64> {
    if ys.len() < 3 {
        return None;
    }
    let mut diffs: Vec<f64> = ys.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    Some(1.482_6 * median(&mut diffs)? / std::f64::consts::SQRT_2)
}

/// Half-width of the 95% interval of a slope fitted to points at positions `xs` whose values
/// scatter independently with standard deviation `sigma`: `1.96 sigma / sqrt(sum (x - mean)^2)`.
/// `None` for fewer than 2 distinct positions.
pub fn slope_half_width(xs: &[f64], sigma: f64) -> Option<f64> {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let sxx: f64 = xs.iter().map(|x| (x - mean).powi(2)).sum();
    (sxx > 0.0).then(|| Z95 * sigma / sxx.sqrt())
}

/// The median of `xs` (mean of the middle two for an even count); `None` when empty.
pub fn median(xs: &mut [f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len() % 2 == 1 {
        Some(xs[mid])
    } else {
        Some((xs[mid - 1] + xs[mid]) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loadgen::snapshot::new_histogram;

    fn close(a: f64, b: f64, eps: f64) -> bool {
        (a - b).abs() <= eps
    }

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

    #[test]
    fn mann_kendall_on_monotone_sequences() {
        // n = 5: S = 10, var = 5*4*15/18 = 16.667, z = 9 / 4.0825 = 2.2045.
        let z = mann_kendall_z(&[1.0, 2.0, 3.0, 4.0, 5.0]).expect("defined");
        assert!(close(z, 2.2045, 1e-3), "z = {z}");
        let z = mann_kendall_z(&[5.0, 4.0, 3.0, 2.0, 1.0]).expect("defined");
        assert!(close(z, -2.2045, 1e-3), "z = {z}");
        // n = 12 strictly falling: S = -66, var = 12*11*29/18 = 212.667, z = -65/14.583 = -4.457.
        let xs: Vec<f64> = (0..12).map(|i| -(i as f64)).collect();
        let z = mann_kendall_z(&xs).expect("defined");
        assert!(close(z, -4.4572, 1e-3), "z = {z}");
    }

    #[test]
    fn mann_kendall_on_a_mixed_sequence() {
        // 3 1 4 1 5: pairs: (3,1)- (3,4)+ (3,1)- (3,5)+ (1,4)+ (1,1)0 (1,5)+ (4,1)- (4,5)+ (1,5)+
        // S = 6 - 3 = 3. One tie pair (t = 2): var = (5*4*15 - 2*1*9)/18 = 282/18 = 15.667.
        // z = (3 - 1)/3.958 = 0.5053.
        let z = mann_kendall_z(&[3.0, 1.0, 4.0, 1.0, 5.0]).expect("defined");
        assert!(close(z, 0.5053, 1e-3), "z = {z}");
    }

    #[test]
    fn mann_kendall_degenerate_inputs() {
        assert_eq!(mann_kendall_z(&[1.0, 2.0]), None);
        assert_eq!(mann_kendall_z(&[2.0, 2.0, 2.0, 2.0]), None);
        assert_eq!(
            mann_kendall_z(&[1.0, 2.0, 1.0, 2.0, 1.0, 2.0]).map(|z| z.abs() < 0.5),
            Some(true)
        );
    }

    #[test]
    fn theil_sen_ignores_an_outlier() {
        // y = 2x + 1 with one wild point: the median slope stays 2.
        let mut points: Vec<(f64, f64)> =
            (0..10).map(|x| (x as f64, 2.0 * x as f64 + 1.0)).collect();
        points[4].1 = 1000.0;
        let slope = theil_sen_slope(&points).expect("defined");
        assert!(close(slope, 2.0, 1e-12), "slope = {slope}");
    }

    #[test]
    fn theil_sen_median_of_pairwise_slopes() {
        // Points (0,0) (1,1) (2,4): slopes 1, 2, 3 -> median 2.
        let slope = theil_sen_slope(&[(0.0, 0.0), (1.0, 1.0), (2.0, 4.0)]).expect("defined");
        assert!(close(slope, 2.0, 1e-12));
        // Four points, six slopes: (0,0) (1,0) (2,3) (3,3): 0, 1.5, 1, 3, 1.5, 0 -> median 1.25.
        let slope =
            theil_sen_slope(&[(0.0, 0.0), (1.0, 0.0), (2.0, 3.0), (3.0, 3.0)]).expect("defined");
        assert!(close(slope, 1.25, 1e-12), "slope = {slope}");
        assert_eq!(theil_sen_slope(&[(1.0, 1.0)]), None);
        assert_eq!(theil_sen_slope(&[(1.0, 1.0), (1.0, 2.0)]), None);
    }

    #[test]
    fn noise_scale_reads_scatter_not_a_trend() {
        // Differences 1, -1, 1, -1: median |d| = 1 -> 1.4826 / sqrt 2 = 1.0484.
        let s = noise_scale(&[0.0, 1.0, 0.0, 1.0, 0.0]).expect("5 values");
        assert!(close(s, 1.0484, 1e-4), "scale {s}");
        // A straight line counts only its step: 3 per value reads as a scale of 3.15, against the
        // 33 that the same line moves over 12 values.
        let line: Vec<f64> = (0..12).map(|i| 3.0 * i as f64).collect();
        let s = noise_scale(&line).expect("12 values");
        assert!(
            close(s, 1.4826 * 3.0 / std::f64::consts::SQRT_2, 1e-9),
            "scale {s}"
        );
        assert_eq!(noise_scale(&[1.0, 2.0]), None);
    }

    #[test]
    fn slope_half_width_by_hand() {
        // x = 0..11: sum (x - 5.5)^2 = 143; 1.96 * 0.1 / sqrt 143 = 0.016390.
        let xs: Vec<f64> = (0..12).map(f64::from).collect();
        let h = slope_half_width(&xs, 0.1).expect("distinct x");
        assert!(close(h, 0.016390, 1e-6), "half width {h}");
        assert_eq!(slope_half_width(&[2.0, 2.0], 1.0), None);
    }

    #[test]
    fn median_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
