//! Stop-the-world pauses of the `gc` and `stall` profiles: timings that are not warm-up
//! constants, so they never scale with the speed.

/// `gc`: seconds between stop-the-world pauses (never scaled).
pub const GC_PERIOD_S: f64 = 1.0;
/// `gc`: length of each pause in seconds (never scaled).
pub const GC_PAUSE_S: f64 = 0.040;
/// `stall`: seconds from the first request to the stall (never scaled).
pub const STALL_AFTER_S: f64 = 2.0;
/// `stall`: length of the stall in seconds (never scaled).
pub const STALL_S: f64 = 1.0;

/// Delays a request that arrived at `arrival` and would finish at `done` (seconds since start)
/// by every stop-the-world pause `[start, start + len)` it overlaps: work stops during a pause,
/// so the overlap is added to its completion. `pauses` yields pauses in time order.
pub fn delay_by_pauses(
    arrival: f64,
    mut done: f64,
    pauses: impl Iterator<Item = (f64, f64)>,
) -> f64 {
    for (start, len) in pauses {
        let end = start + len;
        if start >= done {
            break;
        }
        if end > arrival {
            done += end - start.max(arrival);
        }
    }
    done
}

/// The `gc` pauses that may touch a request arriving at `arrival`: pause k starts at
/// k * GC_PERIOD_S (k >= 1) and lasts GC_PAUSE_S.
pub fn gc_pauses(arrival: f64) -> impl Iterator<Item = (f64, f64)> {
    let first = (arrival / GC_PERIOD_S).floor().max(1.0) as u64;
    (first..).map(|k| (k as f64 * GC_PERIOD_S, GC_PAUSE_S))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_delay_in_flight_and_arriving_requests() {
        // In flight when a pause starts at 1.0 for 0.04: delayed by the whole pause.
        let d = delay_by_pauses(0.99, 1.005, gc_pauses(0.99));
        assert!((d - 1.045).abs() < 1e-9, "{d}");
        // Arriving mid-pause: waits for the rest of it.
        let d = delay_by_pauses(1.01, 1.02, gc_pauses(1.01));
        assert!((d - 1.05).abs() < 1e-9, "{d}");
        // Between pauses: untouched.
        let d = delay_by_pauses(1.5, 1.51, gc_pauses(1.5));
        assert!((d - 1.51).abs() < 1e-9, "{d}");
    }
}
