//! The waiting rules the HTTP clients of the outside world share (the marketplace's and the
//! approved platforms'): exponential back-off with jitter, and `Retry-After`.

use std::time::{Duration, SystemTime};

/// The wait before try `attempt + 1`: `base` doubled per try, capped at `max`, then between
/// half and all of it (jitter, so many clients do not retry in step).
pub fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    exp.min(max).mul_f64(0.5 + fastrand::f64() * 0.5)
}

/// A `Retry-After` value: seconds, or an HTTP date (a date past is no wait).
pub fn retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_are_capped_and_retry_after_reads_both_forms() {
        let (base, max) = (Duration::from_millis(100), Duration::from_secs(1));
        for attempt in 1..20 {
            let w = backoff(base, max, attempt);
            assert!(w <= max && w >= base / 2, "{attempt}: {w:?}");
        }
        assert!(backoff(base, max, 1) <= base);
        assert_eq!(retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(retry_after("soon"), None);
    }
}
