//! Where the warm-up ended, and how the latency moves since: the settle point, the level's slope
//! with its standard error, and whether the warm-up ended in a step (a JIT tier-like drop).
//!
//! Works on the per-window [`Summary`] levels (trimmed mean of log latency) of one endpoint. The
//! settle point is found from the newest windows backwards: starting from the last
//! [`MIN_WINDOWS`], the segment grows one window at a time while the window before it is within
//! noise of the segment's level; it stops at the first two windows in a row that are clearly above
//! it (the warm-up). One wild window does not end the segment; it only adds scatter, which the
//! slope's error then accounts for. Everything since the settle point is judged, so the evidence
//! grows with time instead of sliding a fixed lookback.

use super::history::{History, Summary};

/// Windows the newest segment holds at least: the slope of fewer is all noise.
pub(crate) const MIN_WINDOWS: usize = 4;
/// A window is "clearly above" the segment's level when it exceeds it by this many standard
/// errors (of the difference) ...
const SETTLE_Z: f64 = 3.0;
/// ... and by this much in log terms (2%): below that, a cold excess does not matter to users.
const SETTLE_MARGIN: f64 = 0.02;
/// A warm-up ended in a step when one of the two windows before the settle point had a median at
/// least this much above the segment's (ln 1.5: 50% slower). JIT tier changes (interpreter to C1,
/// C1 to C2) drop the median by 2x or more at once; a smooth decay converging on its level moves
/// a window's median by a few percent, and a stall that holds a fifth of a window's requests
/// moves it by under 20%.
const STEP_LOG: f64 = 0.405_465_108_108_164_4;

/// The segment since the settle point of one endpoint, and what it says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Segment {
    /// Windows in the segment (summaries with samples).
    pub windows: usize,
    /// Windows seen before the segment's first, since warming began (0: no warm-up found).
    pub settle_index: u64,
    /// Earlier windows were clearly slower than the segment: a warm-up was seen and ended.
    pub warmed: bool,
    /// The warm-up ended in a step (see [`STEP_LOG`]): the median dropped by this factor
    /// (e.g. 2.5 = 2.5x faster), if it did.
    pub step: Option<f64>,
    /// Completed requests counted when the segment began.
    pub requests_at_settle: u64,
    /// Weighted least-squares slope of the level, log units per window.
    pub slope: f64,
    /// Its standard error (sampling error, inflated by any extra scatter between windows).
    pub slope_se: f64,
    /// Weighted mean of the segment's levels (ln microseconds).
    pub level: f64,
    /// How far the newest [`MIN_WINDOWS`] windows' level sits above the segment's best (lowest)
    /// run of 3 windows, in log units, with the difference's standard error; `None` while the
    /// segment is too short to hold both apart.
    pub above_best: Option<(f64, f64)>,
    /// Slope and standard error over the windows after that best run, once there are at least
    /// [`MIN_WINDOWS`] of them: the rise out of the bottom of a U.
    pub after_best: Option<(f64, f64)>,
}

/// One window's level and position for the fits.
#[derive(Debug, Clone, Copy)]
struct Point {
    /// Position in the summary rows (windows).
    x: f64,
    s: Summary,
    /// Requests counted up to and including this window.
    requests: u64,
}

/// Weighted mean of the points' levels and its standard error.
fn level(points: &[Point]) -> (f64, f64) {
    let (mut sw, mut swy) = (0.0, 0.0);
    for p in points {
        let w = 1.0 / (p.s.se * p.s.se);
        sw += w;
        swy += w * p.s.level;
    }
    (swy / sw, (1.0 / sw).sqrt())
}

/// Weighted mean of the points' log medians.
fn median_level(points: &[Point]) -> f64 {
    let (mut sw, mut swy) = (0.0, 0.0);
    for p in points {
        let w = p.s.n as f64;
        sw += w;
        swy += w * p.s.ln_median;
    }
    swy / sw
}

/// Weighted least-squares slope of the levels over x and its standard error: `(slope, se)`.
/// The sampling error comes from each window's own standard error; when the windows scatter
/// more than that explains (reduced chi-square above 1: a noisy machine, bursts), the error is
/// scaled up by its square root, as usual for over-dispersed data. `None` for fewer than 3
/// points.
pub(crate) fn wls_slope(points: &[(f64, f64, f64)]) -> Option<(f64, f64)> {
    wls_fit(points).map(|(slope, se, _)| (slope, se))
}

/// [`wls_slope`] and the over-dispersion factor it applied (the square root of the reduced
/// chi-square, at least 1).
fn wls_fit(points: &[(f64, f64, f64)]) -> Option<(f64, f64, f64)> {
    if points.len() < 3 {
        return None;
    }
    let (mut sw, mut swx, mut swy) = (0.0, 0.0, 0.0);
    for &(x, y, se) in points {
        let w = 1.0 / (se * se);
        sw += w;
        swx += w * x;
        swy += w * y;
    }
    let (mx, my) = (swx / sw, swy / sw);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for &(x, y, se) in points {
        let w = 1.0 / (se * se);
        sxx += w * (x - mx) * (x - mx);
        sxy += w * (x - mx) * (y - my);
    }
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let mut chi2 = 0.0;
    for &(x, y, se) in points {
        let r = (y - my - slope * (x - mx)) / se;
        chi2 += r * r;
    }
    let dof = (points.len() - 2) as f64;
    let inflation = (chi2 / dof).max(1.0).sqrt();
    Some((slope, inflation / sxx.sqrt(), inflation))
}

/// True when `p` is clearly above the level `(mean, se)`.
fn above(p: &Point, (mean, se): (f64, f64)) -> bool {
    let sd = (p.s.se * p.s.se + se * se).sqrt();
    p.s.level - mean > SETTLE_Z * sd + SETTLE_MARGIN
}

/// Finds endpoint `index`'s segment since its settle point, or `None` while fewer than
/// [`MIN_WINDOWS`] windows have samples.
pub(crate) fn find(history: &History, index: usize) -> Option<Segment> {
    let rows = history.summaries();
    let first_row = history.seen().saturating_sub(rows.len() as u64);
    let points: Vec<Point> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, row)| {
            Some(Point {
                x: i as f64,
                s: (*row.endpoints.get(index)?)?,
                requests: row.requests.get(index).copied().unwrap_or(0),
            })
        })
        .collect();
    if points.len() < MIN_WINDOWS {
        return None;
    }
    let mut start = points.len() - MIN_WINDOWS;
    while start > 0 {
        let lv = level(&points[start..]);
        let one = above(&points[start - 1], lv);
        let two = start < 2 || above(&points[start - 2], lv);
        if one && two {
            break;
        }
        start -= 1;
    }
    let segment = &points[start..];
    let warmed = start > 0;
    let step = if warmed {
        let m = median_level(segment);
        let before = points[start.saturating_sub(2)..start]
            .iter()
            .map(|p| p.s.ln_median - m)
            .fold(f64::NEG_INFINITY, f64::max);
        (before >= STEP_LOG).then(|| before.exp())
    } else {
        None
    };
    let fit: Vec<(f64, f64, f64)> = segment.iter().map(|p| (p.x, p.s.level, p.s.se)).collect();
    let (slope, slope_se, inflation) = wls_fit(&fit)?;
    // The best run of 3 windows before the newest MIN_WINDOWS, against those newest windows.
    let newest = &segment[segment.len() - MIN_WINDOWS..];
    let earlier = &segment[..segment.len() - MIN_WINDOWS];
    let best = earlier
        .windows(3)
        .map(level)
        .enumerate()
        .min_by(|a, b| a.1 .0.total_cmp(&b.1 .0));
    // Real windows scatter more than their sampling errors say (a shared machine, GC, the
    // app's own jitter): the difference's error is widened by the segment's over-dispersion,
    // and the best of many runs is biased low by about 1.5 of its errors.
    let above_best = best.map(|(_, best)| {
        let now = level(newest);
        let se = (now.1 * now.1 + best.1 * best.1).sqrt() * inflation;
        (now.0 - best.0 - 1.5 * best.1 * inflation, se)
    });
    let after_best = best
        .map(|(i, _)| &fit[i + 3..])
        .filter(|after| after.len() >= MIN_WINDOWS)
        .and_then(wls_slope);
    let requests_at_settle = if start > 0 {
        points[start - 1].requests
    } else {
        0
    };
    Some(Segment {
        windows: segment.len(),
        settle_index: first_row + segment[0].x as u64,
        warmed,
        step,
        requests_at_settle,
        slope,
        slope_se,
        level: level(segment).0,
        above_best,
        after_best,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wls_slope_of_a_line_and_its_error() {
        // y = 0.5 x exactly, se 0.1 everywhere: slope 0.5; no scatter, so the error is the
        // sampling one: 0.1 / sqrt(sum (x - 2)^2) = 0.1 / sqrt 10.
        let pts: Vec<(f64, f64, f64)> = (0..5).map(|x| (x as f64, 0.5 * x as f64, 0.1)).collect();
        let (b, se) = wls_slope(&pts).expect("5 points");
        assert!((b - 0.5).abs() < 1e-12, "{b}");
        assert!((se - 0.1 / 10f64.sqrt()).abs() < 1e-12, "{se}");
        assert_eq!(wls_slope(&pts[..2]), None);
    }

    #[test]
    fn scatter_beyond_the_sampling_error_widens_the_slope_error() {
        // Alternating +-1 around a flat line with se 0.1: chi-square is 100 per point, so the
        // error grows by sqrt(100 n / (n - 2)).
        let pts: Vec<(f64, f64, f64)> = (0..6)
            .map(|x| (x as f64, if x % 2 == 0 { 1.0 } else { -1.0 }, 0.1))
            .collect();
        let (_, se) = wls_slope(&pts).expect("6 points");
        let sxx: f64 = (0..6).map(|x| (x as f64 - 2.5).powi(2)).sum::<f64>() / 0.01;
        assert!(se > 5.0 / sxx.sqrt(), "se {se} not widened");
    }
}
