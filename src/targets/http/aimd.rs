//! The HTTP target's adaptive request rate (AIMD), as a pure state machine over events and a
//! clock value passed in (time since the target was made); the target's
//! [`ApiUsage`](crate::targets::usage::ApiUsage) feeds it and reads it, and `mod.rs` carries the
//! rate in force out on the `governor` limiter.
//!
//! - A 429 halves the rate in force, down to a floor: `--rate / 16`, but at least 1 request/s
//!   (and never above `--rate`). 429s within [`HOLD`] of a decrease change nothing more: those
//!   requests were sent at the old rate.
//! - Without a configured rate (a loopback target's default), a 429 imposes one: half the rate
//!   observed over the last second, or half of [`UNLIMITED_START`] when that was lower (a few
//!   requests in a burst say little about the rate the target tolerates).
//! - After [`QUIET`] without a 429 the rate climbs by a tenth of its ceiling per quiet period (the
//!   configured rate; for a target without one, the rate observed at the first 429, reaching which
//!   lifts the limit again). From the floor back to `--rate 20` takes under a minute.

use std::collections::VecDeque;
use std::time::Duration;

/// The lowest rate a 429 leads to, requests/s (unless `--rate` is lower still).
pub const FLOOR: f64 = 1.0;
/// How long after a decrease further 429s are put down to requests already in flight.
pub const HOLD: Duration = Duration::from_secs(1);
/// How long without a 429 before each additive step up.
pub const QUIET: Duration = Duration::from_secs(5);
/// The window the rate of a target without a limit is observed over.
pub const WINDOW: Duration = Duration::from_secs(1);
/// The rate assumed for a target without a limit when the window saw fewer requests.
pub const UNLIMITED_START: f64 = 20.0;
/// Send times kept for the observed rate (a cap, not a limit on the rate).
const MAX_SENT: usize = 4096;

/// The adaptive rate of one target.
#[derive(Debug, Clone)]
pub struct Aimd {
    configured: Option<f64>,
    current: Option<f64>,
    ceiling: Option<f64>,
    last_decrease: Option<Duration>,
    last_change: Duration,
    sent: VecDeque<Duration>,
}

impl Aimd {
    /// A controller for a target configured with `rate` requests/s (`None`: no limit).
    pub fn new(rate: Option<f64>) -> Self {
        let rate = rate.filter(|r| *r > 0.0 && r.is_finite());
        Self {
            configured: rate,
            current: rate,
            ceiling: rate,
            last_decrease: None,
            last_change: Duration::ZERO,
            sent: VecDeque::new(),
        }
    }

    /// The rate in force, requests/s; `None`: no limit.
    pub fn rate(&self) -> Option<f64> {
        self.current
    }

    fn floor(&self) -> f64 {
        match self.configured {
            Some(r) => (r / 16.0).max(FLOOR).min(r),
            None => FLOOR,
        }
    }

    /// A request is about to be sent at `now` (only counted while there is no limit: it is what a
    /// first 429 is measured against).
    pub fn sent(&mut self, now: Duration) {
        if self.current.is_some() {
            self.sent.clear();
            return;
        }
        while self
            .sent
            .front()
            .is_some_and(|t| now.saturating_sub(*t) > WINDOW)
        {
            self.sent.pop_front();
        }
        if self.sent.len() == MAX_SENT {
            self.sent.pop_front();
        }
        self.sent.push_back(now);
    }

    /// A 429 answered at `now`. Returns the new rate in force when it changed.
    pub fn rate_limited(&mut self, now: Duration) -> Option<Option<f64>> {
        if self
            .last_decrease
            .is_some_and(|t| now.saturating_sub(t) < HOLD)
        {
            return None;
        }
        let from = match self.current {
            Some(r) => r,
            None => {
                let observed = self
                    .sent
                    .iter()
                    .filter(|t| now.saturating_sub(**t) <= WINDOW)
                    .count() as f64
                    / WINDOW.as_secs_f64();
                let start = observed.max(UNLIMITED_START);
                self.ceiling = Some(start);
                self.sent.clear();
                start
            }
        };
        let next = (from / 2.0).max(self.floor());
        self.last_decrease = Some(now);
        self.last_change = now;
        if self.current == Some(next) {
            return None;
        }
        self.current = Some(next);
        Some(self.current)
    }

    /// Time has passed without a 429 (called as requests are sent and answered). Returns the new
    /// rate in force when it changed.
    pub fn quiet(&mut self, now: Duration) -> Option<Option<f64>> {
        let (current, ceiling) = (self.current?, self.ceiling?);
        if current >= ceiling && self.configured.is_some() {
            return None;
        }
        let steps = (now.saturating_sub(self.last_change).as_secs_f64() / QUIET.as_secs_f64())
            .floor() as u32;
        if steps == 0 {
            return None;
        }
        self.last_change += QUIET * steps;
        let next = current + f64::from(steps) * ceiling / 10.0;
        self.current = if next < ceiling {
            Some(next)
        } else if self.configured.is_some() {
            Some(ceiling)
        } else {
            // Back where the target answered without 429s: lift the limit again.
            self.ceiling = None;
            None
        };
        Some(self.current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn a_429_halves_the_rate_down_to_the_floor() {
        let mut aimd = Aimd::new(Some(20.0));
        assert_eq!(aimd.rate(), Some(20.0));
        assert_eq!(aimd.rate_limited(s(10.0)), Some(Some(10.0)));
        assert_eq!(aimd.rate_limited(s(12.0)), Some(Some(5.0)));
        assert_eq!(aimd.rate_limited(s(14.0)), Some(Some(2.5)));
        // The floor of --rate 20 is 20/16 = 1.25.
        assert_eq!(aimd.rate_limited(s(16.0)), Some(Some(1.25)));
        assert_eq!(aimd.rate_limited(s(18.0)), None);
        assert_eq!(aimd.rate(), Some(1.25));
    }

    #[test]
    fn the_floor_is_at_least_one_a_second_but_never_above_the_configured_rate() {
        let mut fast = Aimd::new(Some(1000.0));
        for i in 0..20 {
            fast.rate_limited(s(f64::from(i) * 2.0));
        }
        assert_eq!(fast.rate(), Some(62.5));
        let mut slow = Aimd::new(Some(0.5));
        assert_eq!(slow.rate_limited(s(1.0)), None);
        assert_eq!(slow.rate(), Some(0.5));
    }

    #[test]
    fn rate_limits_within_the_hold_after_a_decrease_count_once() {
        let mut aimd = Aimd::new(Some(20.0));
        assert_eq!(aimd.rate_limited(s(10.0)), Some(Some(10.0)));
        assert_eq!(aimd.rate_limited(s(10.2)), None);
        assert_eq!(aimd.rate_limited(s(10.9)), None);
        assert_eq!(aimd.rate(), Some(10.0));
        assert_eq!(aimd.rate_limited(s(11.0)), Some(Some(5.0)));
    }

    #[test]
    fn the_rate_climbs_back_additively_after_quiet_periods() {
        let mut aimd = Aimd::new(Some(20.0));
        aimd.rate_limited(s(0.0));
        aimd.rate_limited(s(1.0));
        assert_eq!(aimd.rate(), Some(5.0));
        // Not yet quiet for 5 s since the last 429.
        assert_eq!(aimd.quiet(s(5.9)), None);
        // One quiet period: + 20/10.
        assert_eq!(aimd.quiet(s(6.0)), Some(Some(7.0)));
        assert_eq!(aimd.quiet(s(8.0)), None);
        // Two more periods at once (no requests in between).
        assert_eq!(aimd.quiet(s(16.5)), Some(Some(11.0)));
        // A 429 interrupts the climb and halves again.
        assert_eq!(aimd.rate_limited(s(17.0)), Some(Some(5.5)));
        assert_eq!(aimd.quiet(s(21.0)), None);
        // Long quiet: capped at the configured rate, then nothing more.
        assert_eq!(aimd.quiet(s(200.0)), Some(Some(20.0)));
        assert_eq!(aimd.quiet(s(300.0)), None);
        assert_eq!(aimd.rate(), Some(20.0));
    }

    #[test]
    fn without_a_limit_a_429_imposes_half_the_observed_rate_and_the_climb_lifts_it() {
        let mut aimd = Aimd::new(None);
        assert_eq!(aimd.quiet(s(100.0)), None);
        // 400 requests in the last second (and older ones that no longer count).
        for i in 0..100 {
            aimd.sent(s(5.0 + f64::from(i) / 1000.0));
        }
        for i in 0..400 {
            aimd.sent(s(9.0 + f64::from(i) / 400.0));
        }
        assert_eq!(aimd.rate_limited(s(9.999)), Some(Some(200.0)));
        assert_eq!(aimd.quiet(s(15.0)), Some(Some(240.0)));
        // Back at the observed rate: no limit again.
        assert_eq!(aimd.quiet(s(60.0)), Some(None));
        assert_eq!(aimd.rate(), None);
    }

    #[test]
    fn without_a_limit_and_with_few_observations_a_429_starts_from_the_default() {
        let mut aimd = Aimd::new(None);
        for i in 0..5 {
            aimd.sent(s(1.0 + f64::from(i) / 100.0));
        }
        assert_eq!(aimd.rate_limited(s(1.1)), Some(Some(UNLIMITED_START / 2.0)));
        assert_eq!(aimd.rate_limited(s(3.0)), Some(Some(UNLIMITED_START / 4.0)));
        // The floor without a configured rate is 1/s.
        for i in 0..10 {
            aimd.rate_limited(s(5.0 + f64::from(i) * 2.0));
        }
        assert_eq!(aimd.rate(), Some(FLOOR));
    }
}
