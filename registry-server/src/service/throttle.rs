//! A bound on failed authentications per client address, so that guessing tokens costs a
//! minute per `auth_failures_per_minute` guesses. Each address has a window of one minute
//! from its first failure; once the window holds that many failures, requests with
//! credentials from the address are refused until the window ends. Requests without
//! credentials (anonymous reads) are never refused here.

use super::Service;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at once; past it, ended windows are dropped first.
const MAX_TRACKED: usize = 65_536;

pub(crate) struct AuthThrottle {
    per_minute: u32,
    windows: Mutex<HashMap<IpAddr, Window>>,
}

struct Window {
    started: Instant,
    failures: u32,
}

impl AuthThrottle {
    /// `per_minute` of 0 turns the bound off.
    pub(crate) fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::default(),
        }
    }

    /// `Err(wait)` while `addr` has used up its failures for the current window.
    fn check(&self, addr: IpAddr) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        match windows.get(&addr) {
            Some(w) if w.failures >= self.per_minute => {
                let left = WINDOW.saturating_sub(w.started.elapsed());
                if left.is_zero() {
                    Ok(())
                } else {
                    Err(left)
                }
            }
            _ => Ok(()),
        }
    }

    fn failed(&self, addr: IpAddr) {
        if self.per_minute == 0 {
            return;
        }
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= MAX_TRACKED && !windows.contains_key(&addr) {
            windows.retain(|_, w| w.started.elapsed() < WINDOW);
            if windows.len() >= MAX_TRACKED {
                return;
            }
        }
        let window = windows.entry(addr).or_insert(Window {
            started: Instant::now(),
            failures: 0,
        });
        if window.started.elapsed() >= WINDOW {
            *window = Window {
                started: Instant::now(),
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
        if window.failures == self.per_minute {
            tracing::warn!(
                %addr,
                failures = window.failures,
                "authentication refused for a minute: too many failed attempts from this address"
            );
        }
    }
}

impl Service {
    /// Whether a request with credentials from `addr` may be authenticated now; otherwise how
    /// long until it may.
    pub(crate) fn auth_allowed(&self, addr: IpAddr) -> Result<(), Duration> {
        self.core.throttle.check(addr)
    }

    /// Counts a failed authentication from `addr`.
    pub(crate) fn auth_failed(&self, addr: IpAddr) {
        self.core.throttle.failed(addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_its_failures_and_others_are_not() {
        let t = AuthThrottle::new(3);
        let guesser: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..2 {
            t.failed(guesser);
            assert!(t.check(guesser).is_ok());
        }
        t.failed(guesser);
        let wait = t.check(guesser).unwrap_err();
        assert!(wait > Duration::from_secs(55) && wait <= WINDOW);
        assert!(t.check(other).is_ok());
    }

    #[test]
    fn zero_turns_the_bound_off() {
        let t = AuthThrottle::new(0);
        let a: IpAddr = "::1".parse().unwrap();
        for _ in 0..100 {
            t.failed(a);
        }
        assert!(t.check(a).is_ok());
    }
}
