//! Requests per second per caller (a terminal, an API key, or an address for the unauthenticated
//! routes): a token bucket each, refilled continuously, so a burst up to the bucket's size passes
//! and a steady flood above the rate is answered 429 before it costs any work.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

#[derive(Debug)]
pub struct RateLimiter {
    rate: Rate,
    /// Callers tracked at most; idle full buckets are dropped first when it is reached.
    capacity: usize,
    buckets: Mutex<HashMap<String, (f64, i64)>>,
}

impl RateLimiter {
    pub fn new(rate: Rate, capacity: usize) -> RateLimiter {
        RateLimiter { rate, capacity, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token from `caller`'s bucket at `now_ms`, or says how long to wait.
    pub fn take(&self, caller: &str, now_ms: i64) -> Result<(), ApiError> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= self.capacity && !buckets.contains_key(caller) {
            let rate = self.rate;
            buckets.retain(|_, (tokens, at)| refilled(rate, *tokens, *at, now_ms) < rate.burst);
        }
        let (tokens, at) = buckets.entry(caller.to_owned()).or_insert((self.rate.burst, now_ms));
        let available = refilled(self.rate, *tokens, *at, now_ms);
        if available < 1.0 {
            return Err(ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("more than {} requests a second; slow down", self.rate.per_second),
            ));
        }
        *tokens = available - 1.0;
        *at = now_ms;
        Ok(())
    }
}

fn refilled(rate: Rate, tokens: f64, at_ms: i64, now_ms: i64) -> f64 {
    let elapsed = (now_ms - at_ms).max(0) as f64 / 1000.0;
    (tokens + elapsed * rate.per_second).min(rate.burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds_and_callers_are_apart() {
        let limiter = RateLimiter::new(Rate { per_second: 2.0, burst: 3.0 }, 100);
        for _ in 0..3 {
            limiter.take("a", 0).unwrap();
        }
        assert_eq!(limiter.take("a", 0).unwrap_err().code, "rate_limited");
        limiter.take("b", 0).unwrap();
        assert!(limiter.take("a", 499).is_err(), "half a second earns less than one token at 2/s");
        limiter.take("a", 500).unwrap();
    }
}
