//! The `jittery` profile's noise: a warm app whose tail is wide and restless without any trend.
//! A wide lognormal body, rare hiccups (a request several times slower than it would be), and
//! short bursts of queueing (every request in flight or arriving during a burst waits for its
//! end, like a brief stall). Bursts are placed by a fixed pseudo-random sequence, so a run
//! replays them; hiccups are drawn from the caller's seeded [`Noise`].

use super::Noise;

/// The `jittery` profile's numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter {
    /// The body's lognormal sigma is at least this (1: p99 = 10x the median).
    pub sigma_min: f64,
    /// Share of requests that hiccup.
    pub hiccup_rate: f64,
    /// A hiccup multiplies the latency by a uniform factor in `[hiccup_min, hiccup_max]`.
    pub hiccup_min: f64,
    /// See `hiccup_min`.
    pub hiccup_max: f64,
    /// Mean seconds between bursts of queueing (each gap is 0.75-1.25x this).
    pub burst_every_s: f64,
    /// Length of one burst, seconds.
    pub burst_s: f64,
}

/// The `jittery` profile: sigma 1, 0.5% hiccups of 3-10x, a 150 ms burst every ~4 s.
pub const JITTERY: Jitter = Jitter {
    sigma_min: 1.0,
    hiccup_rate: 0.005,
    hiccup_min: 3.0,
    hiccup_max: 10.0,
    burst_every_s: 4.0,
    burst_s: 0.15,
};

/// splitmix64: a well-mixed 64-bit hash of `k`, as a fraction in [0, 1).
fn unit_hash(k: u64) -> f64 {
    let mut z = k.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

impl Jitter {
    /// The latency factor of one request: a hiccup's factor, or 1.
    pub fn hiccup(&self, noise: &mut Noise) -> f64 {
        if noise.chance(self.hiccup_rate) {
            self.hiccup_min + (self.hiccup_max - self.hiccup_min) * noise.uniform()
        } else {
            1.0
        }
    }

    /// Start of burst `k` (k >= 1), seconds since start: `k * every` moved by up to a quarter
    /// of a gap either way, so bursts stay in order.
    fn burst_start(&self, k: u64) -> f64 {
        self.burst_every_s * (k as f64 + 0.5 * unit_hash(k) - 0.25)
    }

    /// The bursts `(start, length)` that may touch a request arriving at `arrival`, in time
    /// order (for [`crate::sim::pauses::delay_by_pauses`]).
    pub fn bursts(&self, arrival: f64) -> impl Iterator<Item = (f64, f64)> + '_ {
        let first = ((arrival / self.burst_every_s).floor() as u64)
            .saturating_sub(1)
            .max(1);
        (first..).map(move |k| (self.burst_start(k), self.burst_s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_are_ordered_spaced_and_replayable() {
        let starts: Vec<f64> = (1..200).map(|k| JITTERY.burst_start(k)).collect();
        for pair in starts.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap > JITTERY.burst_s, "bursts overlap: {pair:?}");
        }
        let mean = (starts[198] - starts[0]) / 198.0;
        assert!(
            (mean / JITTERY.burst_every_s - 1.0).abs() < 0.01,
            "mean gap {mean}"
        );
        assert_eq!(JITTERY.burst_start(17), JITTERY.burst_start(17));
        // The bursts offered to a request include the one it may fall into.
        let (s, _) = JITTERY
            .bursts(100.0)
            .find(|b| b.0 + b.1 > 100.0)
            .expect("a burst");
        assert!(s < 106.0, "{s}");
    }

    #[test]
    fn hiccups_are_rare_and_within_their_factors() {
        let mut noise = Noise::new(3);
        let factors: Vec<f64> = (0..200_000).map(|_| JITTERY.hiccup(&mut noise)).collect();
        let hiccups: Vec<f64> = factors.iter().copied().filter(|&f| f > 1.0).collect();
        // 1,000 expected, sd 31.6: within 5 sd.
        assert!(
            (hiccups.len() as f64 - 1000.0).abs() < 160.0,
            "{}",
            hiccups.len()
        );
        assert!(hiccups.iter().all(|&f| (3.0..=10.0).contains(&f)));
    }
}
