//! Waiting out AWS's throttling: a throttled call did nothing, so it is made again after a
//! pause, within a budget per call and before the invocation's deadline.

use crate::AwsError;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// How long one AWS call keeps being made again while AWS throttles it, beyond the SDK's
/// attempts: pauses drawn at random below a ceiling that doubles from 0.5 s to 8 s (full
/// jitter), until the next pause would pass this budget.
///
/// A burst of failed tasks spends the account's per-second quotas (GetLogEvents 10 or 25 a
/// second, ECS's task read bucket 100 then 20 a second) in the first second; three attempts
/// in about 1.5 s then fail most calls, and Lambda's two retries fall inside the same burst.
/// A throttled call did nothing, so making it again is safe (RunTask carries its clientToken
/// too); waiting costs only the invocation's time. Within an invocation the waiting also
/// stops [`DEADLINE_MARGIN`] before Lambda's deadline (see [`before_deadline`]).
pub const THROTTLE_BUDGET: Duration = Duration::from_secs(45);
const FIRST_CEILING: Duration = Duration::from_millis(500);
const LONGEST_CEILING: Duration = Duration::from_secs(8);

/// How long before Lambda's deadline a throttled call stops waiting: the call made after a
/// pause may take up to [`crate::CALL_TIMEOUT`], and the decision must still be logged.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(40);

tokio::task_local! {
    /// When the current invocation's time runs out.
    static DEADLINE: Instant;
}

/// Runs `work`, one invocation, knowing Lambda's deadline (`deadline_ms`, milliseconds since
/// the Unix epoch, as the invocation's context gives it): a call still throttled near it
/// fails with AWS's error, which Lambda retries, instead of the invocation timing out.
pub async fn before_deadline<F: Future>(deadline_ms: u64, work: F) -> F::Output {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    DEADLINE.scope(Instant::now() + left, work).await
}

/// Makes `call` again while AWS throttles it, within [`THROTTLE_BUDGET`] and before the
/// deadline less [`DEADLINE_MARGIN`]; any other answer is returned as it is, and the last
/// throttling error with how long it was waited out.
pub(crate) async fn patiently<T, F, Fut>(mut call: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let started = Instant::now();
    let budget_end = started + THROTTLE_BUDGET;
    let deadline = DEADLINE
        .try_with(|d| d.checked_sub(DEADLINE_MARGIN).unwrap_or(started))
        .ok();
    let end = deadline.map_or(budget_end, |d| d.min(budget_end));
    let mut ceiling = FIRST_CEILING;
    loop {
        match call().await {
            Err(mut e) if e.is_throttling() => {
                let pause = below(ceiling);
                if Instant::now() + pause > end {
                    let why = if deadline.is_some_and(|d| d < budget_end) {
                        "the invocation's time runs out"
                    } else {
                        "the wait's budget is spent"
                    };
                    e.message = format!(
                        "{} (still throttled after {:.1} s of waiting: {why}; Lambda retries the event)",
                        e.message,
                        started.elapsed().as_secs_f64()
                    );
                    return Err(e);
                }
                tracing::debug!(operation = e.operation, ?pause, "throttled; trying again");
                tokio::time::sleep(pause).await;
                ceiling = (ceiling * 2).min(LONGEST_CEILING);
            }
            other => return other,
        }
    }
}

/// A duration drawn uniformly below `ceiling` (the OS-seeded keys of `RandomState` differ on
/// every call: no random-number crate is needed for a jitter).
fn below(ceiling: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let draw = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    ceiling.mul_f64(draw as f64 / u64::MAX as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn throttled() -> AwsError {
        AwsError::coded("logs:GetLogEvents", "ThrottlingException", "Rate exceeded")
    }

    /// A call throttled `times` times, then answered; how often it was made.
    async fn throttled_then_ok(times: usize, calls: &AtomicUsize) -> Result<u8, AwsError> {
        patiently(|| async {
            if calls.fetch_add(1, Ordering::SeqCst) < times {
                Err(throttled())
            } else {
                Ok(7)
            }
        })
        .await
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_is_waited_out_and_other_errors_are_not() {
        let calls = AtomicUsize::new(0);
        assert_eq!(throttled_then_ok(5, &calls).await, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 6);
        let calls = AtomicUsize::new(0);
        let denied = patiently(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(AwsError::coded(
                "ecs:RunTask",
                "AccessDeniedException",
                "no",
            ))
        })
        .await;
        assert_eq!(
            denied.unwrap_err().code.as_deref(),
            Some("AccessDeniedException")
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "not throttling: answered at once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn endless_throttling_ends_within_the_budget_saying_so() {
        let started = Instant::now();
        let calls = AtomicUsize::new(0);
        let e = throttled_then_ok(usize::MAX, &calls).await.unwrap_err();
        assert!(
            started.elapsed() <= THROTTLE_BUDGET,
            "{:?}",
            started.elapsed()
        );
        assert!(calls.load(Ordering::SeqCst) > 3);
        assert_eq!(e.code.as_deref(), Some("ThrottlingException"));
        assert!(e.message.contains("the wait's budget is spent"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn near_lambdas_deadline_throttling_is_not_waited_past_it() {
        // 60 s left: waiting stops DEADLINE_MARGIN before the deadline, well inside the budget.
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let started = Instant::now();
        let calls = AtomicUsize::new(0);
        let e = before_deadline(now_ms + 60_000, throttled_then_ok(usize::MAX, &calls))
            .await
            .unwrap_err();
        let waited = started.elapsed();
        assert!(
            waited <= Duration::from_secs(60) - DEADLINE_MARGIN,
            "{waited:?}"
        );
        assert!(e.message.contains("the invocation's time runs out"), "{e}");
        // With the deadline far away, the budget is what ends the wait.
        let calls = AtomicUsize::new(0);
        let e = before_deadline(now_ms + 900_000, throttled_then_ok(usize::MAX, &calls))
            .await
            .unwrap_err();
        assert!(e.message.contains("the wait's budget is spent"), "{e}");
        // A deadline already past: the first throttling answer is the error.
        let calls = AtomicUsize::new(0);
        assert!(
            before_deadline(now_ms, throttled_then_ok(usize::MAX, &calls))
                .await
                .is_err()
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
