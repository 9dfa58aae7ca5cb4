//! Number formatting for the verdict's human reasons: `1,200`, `4.1%`, `-28%`, `41.2 ms`, `60s`.

use std::time::Duration;

/// `1234567` -> `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A fraction as a percentage with at most one decimal: `0.041` -> `4.1%`, `0.01` -> `1%`.
pub(crate) fn pct(fraction: f64) -> String {
    format!("{}%", trim(fraction * 100.0, 1))
}

/// A signed relative change as a whole percentage: `-0.283` -> `-28%`, `0.12` -> `+12%`.
/// Changes below 1% keep one decimal so that they do not all read `+0%`.
pub(crate) fn signed_pct(fraction: f64) -> String {
    let p = fraction * 100.0;
    let text = if p.abs() < 1.0 {
        trim(p, 1)
    } else {
        format!("{p:.0}")
    };
    if p >= 0.0 && !text.starts_with('-') {
        format!("+{text}%")
    } else {
        format!("{text}%")
    }
}

/// Milliseconds with about three significant digits: `412 ms`, `41.2 ms`, `4.12 ms`, `0.412 ms`.
pub(crate) fn ms(value: f64) -> String {
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else if value >= 1.0 {
        2
    } else {
        3
    };
    format!("{} ms", trim(value, decimals))
}

/// A duration as seconds: `60s`, `2.5s`, `0.05s`.
pub(crate) fn secs(d: Duration) -> String {
    format!("{}s", trim(d.as_secs_f64(), 3))
}

/// A duration as milliseconds: `50 ms`.
pub(crate) fn dur_ms(d: Duration) -> String {
    ms(d.as_secs_f64() * 1000.0)
}

/// `value` with at most `decimals` decimals, trailing zeros (and a bare point) removed.
fn trim(value: f64, decimals: usize) -> String {
    let mut text = format!("{value:.decimals$}");
    if text.contains('.') {
        while text.ends_with('0') {
            text.pop();
        }
        if text.ends_with('.') {
            text.pop();
        }
    }
    if text == "-0" {
        text = "0".to_string();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1200), "1,200");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn percentages() {
        assert_eq!(pct(0.041), "4.1%");
        assert_eq!(pct(0.01), "1%");
        assert_eq!(pct(0.0), "0%");
        assert_eq!(signed_pct(-0.283), "-28%");
        assert_eq!(signed_pct(0.12), "+12%");
        assert_eq!(signed_pct(0.004), "+0.4%");
        assert_eq!(signed_pct(-0.0001), "0%");
    }

    #[test]
    fn milliseconds_and_seconds() {
        assert_eq!(ms(412.3), "412 ms");
        assert_eq!(ms(41.23), "41.2 ms");
        assert_eq!(ms(4.123), "4.12 ms");
        assert_eq!(ms(30.0), "30 ms");
        assert_eq!(ms(0.4123), "0.412 ms");
        assert_eq!(secs(Duration::from_secs(60)), "60s");
        assert_eq!(secs(Duration::from_millis(2500)), "2.5s");
        assert_eq!(dur_ms(Duration::from_millis(50)), "50 ms");
    }
}
