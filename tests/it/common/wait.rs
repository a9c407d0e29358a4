//! Waiting on a condition, never on a clock: [`eventually`] asks again until the answer is the
//! one wanted, and fails the test with what it saw last once the limit has passed.

use std::time::{Duration, Instant};

/// How long [`eventually`] leaves between two questions.
const EVERY: Duration = Duration::from_millis(25);

/// Asks `probe` every [`EVERY`] until it answers `Ok`, and returns what it answered; fails the
/// test after `limit`, saying `what` was awaited and the probe's last `Err` (what it saw then).
pub(crate) async fn eventually<T>(
    limit: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match probe().await {
            Ok(done) => return done,
            Err(seen) if Instant::now() >= deadline => {
                panic!("waited {limit:?} for {what}; last seen: {seen}")
            }
            Err(_) => tokio::time::sleep(EVERY).await,
        }
    }
}
