//! Waiting before a re-run: a warehouse that just dropped connections often needs minutes.
//!
//! The delay before attempt k (k = 2 is the first re-run) is
//! `min(max, delay × rate^(k−2))`, with optional full jitter (uniform in `[0, that]`).
//! A delayed re-run is a one-time EventBridge Scheduler schedule whose name comes from the
//! chain and the attempt ([`crate::chain::Chain::schedule_name`]), so a repeated event finds
//! it already there.

use chrono::{DateTime, Duration, SecondsFormat, Utc};

/// Spreading re-runs of many chains apart (`DBT_RERUN_JITTER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// `none` (default): each re-run waits exactly its computed delay.
    None,
    /// Uniform in `[0, delay]`.
    Full,
}

/// `DBT_RERUN_DELAY_SECONDS`, `DBT_RERUN_BACKOFF_RATE`, `DBT_RERUN_MAX_DELAY_SECONDS`,
/// `DBT_RERUN_JITTER`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DelaySettings {
    /// `DBT_RERUN_DELAY_SECONDS`: the wait before the first re-run; 0 launches at once.
    pub delay_seconds: u64,
    /// `DBT_RERUN_BACKOFF_RATE`: each later re-run waits this many times longer.
    pub backoff_rate: f64,
    /// `DBT_RERUN_MAX_DELAY_SECONDS`: the longest wait, whatever the rate.
    pub max_delay_seconds: u64,
    /// `DBT_RERUN_JITTER`: whether each wait is drawn at random below its delay.
    pub jitter: Jitter,
}

impl Default for DelaySettings {
    fn default() -> Self {
        Self {
            delay_seconds: 0,
            backoff_rate: 2.0,
            max_delay_seconds: 3600,
            jitter: Jitter::None,
        }
    }
}

impl DelaySettings {
    /// Seconds to wait before launching attempt `attempt`. `random` is in `[0, 1)` and is
    /// used only with full jitter.
    pub fn before(&self, attempt: u32, random: f64) -> u64 {
        if self.delay_seconds == 0 {
            return 0;
        }
        let exponent = attempt.saturating_sub(2).min(64) as i32;
        let grown = self.delay_seconds as f64 * self.backoff_rate.powi(exponent);
        let capped = grown.min(self.max_delay_seconds as f64).max(0.0);
        let seconds = match self.jitter {
            Jitter::None => capped,
            Jitter::Full => capped * random.clamp(0.0, 1.0),
        };
        seconds.round() as u64
    }
}

/// A number in `[0, 1)` for jitter, from `seed` (the task) and `nanos` (of the clock's now):
/// schedules are idempotent by name, so the draw need not repeat, and no randomness crate is
/// needed.
pub fn jitter_draw(seed: &str, nanos: u32) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(nanos);
    for b in seed.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    (h % 1_000_000) as f64 / 1_000_000.0
}

/// EventBridge Scheduler's one-time expression for `when`, in UTC, to the second.
pub fn at_expression(when: DateTime<Utc>) -> String {
    format!("at({})", when.format("%Y-%m-%dT%H:%M:%S"))
}

/// When a re-run `seconds` from `now` is due, as the record shows it.
pub fn due(now: DateTime<Utc>, seconds: u64) -> DateTime<Utc> {
    now + Duration::seconds(seconds.min(i64::MAX as u64) as i64)
}

/// RFC 3339 in UTC, for the record.
pub fn rfc3339(when: DateTime<Utc>) -> String {
    when.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(delay: u64, rate: f64, max: u64, jitter: Jitter) -> DelaySettings {
        DelaySettings {
            delay_seconds: delay,
            backoff_rate: rate,
            max_delay_seconds: max,
            jitter,
        }
    }

    #[test]
    fn delays_grow_by_the_rate_from_the_first_rerun_and_stop_at_the_maximum() {
        let s = settings(300, 2.0, 3600, Jitter::None);
        assert_eq!(s.before(2, 0.5), 300);
        assert_eq!(s.before(3, 0.5), 600);
        assert_eq!(s.before(4, 0.5), 1200);
        assert_eq!(s.before(6, 0.5), 3600, "capped");
        assert_eq!(s.before(60, 0.5), 3600, "no overflow");
        assert_eq!(
            settings(0, 2.0, 3600, Jitter::Full).before(5, 0.9),
            0,
            "no delay: launch at once"
        );
    }

    #[test]
    fn full_jitter_draws_below_the_delay() {
        let s = settings(300, 2.0, 3600, Jitter::Full);
        assert_eq!(s.before(3, 0.0), 0);
        assert_eq!(s.before(3, 0.5), 300);
        assert_eq!(s.before(3, 0.999), 599);
    }

    #[test]
    fn jitter_draws_stay_below_one() {
        for nanos in [0, 1, 999_999_999, u32::MAX] {
            let draw = jitter_draw("arn:aws:ecs:eu-west-1:1:task/dbt/abc", nanos);
            assert!((0.0..1.0).contains(&draw), "{draw}");
        }
        assert_ne!(jitter_draw("a", 1), jitter_draw("b", 1));
    }

    #[test]
    fn at_expressions_are_utc_to_the_second() {
        let when = DateTime::parse_from_rfc3339("2026-11-27T14:05:09.750+02:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(at_expression(when), "at(2026-11-27T12:05:09)");
        assert_eq!(rfc3339(due(when, 300)), "2026-11-27T12:10:09Z");
    }
}
