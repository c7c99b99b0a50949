//! Which calls a service takes on (book chapter 11, done the right way round: the book's
//! limiter rejects while tokens remain). A token bucket (GCRA, `governor`) per service and,
//! optionally, per caller; and a cap on calls in flight, past which a call is refused at
//! once instead of queueing. Health checks, reflection and the operational HTTP routes are
//! never limited ([`super::endpoint`] decides which endpoints are).

use std::{net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    state::keyed::DefaultKeyedStateStore,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::service;

/// Callers the per-caller table keeps at most; past it, idle entries are dropped.
const MAX_CALLERS: usize = 10_000;

type Direct = governor::DefaultDirectRateLimiter;
type Keyed = RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock>;

/// A service's admission control.
#[derive(Default)]
pub struct Admission {
    rate: Option<Direct>,
    per_caller: Option<Keyed>,
    in_flight: Option<Arc<Semaphore>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("rate", &self.rate.is_some())
            .field("per_caller", &self.per_caller.is_some())
            .field("in_flight", &self.in_flight.is_some())
            .finish()
    }
}

/// Why a call was not taken on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Over the rate: try again after this long.
    RateLimited { retry_after: Duration },
    /// Too many calls in flight.
    Overloaded,
}

impl Admission {
    /// From a service's settings; `Err` says which value is wrong.
    pub fn new(settings: &service::Settings) -> Result<Self, String> {
        let mut admission = Self::default();
        let limit = &settings.rate_limit;
        if limit.rate > 0.0 {
            if !limit.rate.is_finite() {
                return Err(format!(
                    "rateLimit.rate {}: expected a number of calls per second",
                    limit.rate
                ));
            }
            let burst = NonZeroU32::new(limit.burst.max(1)).unwrap_or(NonZeroU32::MIN);
            let quota = Quota::with_period(Duration::from_secs_f64(1.0 / limit.rate))
                .ok_or_else(|| format!("rateLimit.rate {}: too high", limit.rate))?
                .allow_burst(burst);
            admission.rate = Some(RateLimiter::direct(quota));
            if limit.per_caller {
                admission.per_caller = Some(RateLimiter::keyed(quota));
            }
        }
        if settings.max_concurrent_calls > 0 {
            admission.in_flight = Some(Arc::new(Semaphore::new(
                settings.max_concurrent_calls as usize,
            )));
        }
        Ok(admission)
    }

    /// Takes a call on, or says why not. The permit (when calls in flight are capped) is
    /// held until the call ends.
    pub fn admit(&self, caller: Option<IpAddr>) -> Result<Option<OwnedSemaphorePermit>, Refused> {
        let limited = |not_until: governor::NotUntil<_>| Refused::RateLimited {
            retry_after: not_until.wait_time_from(self.clock.now()),
        };
        if let (Some(keyed), Some(ip)) = (&self.per_caller, caller) {
            if keyed.len() > MAX_CALLERS {
                keyed.retain_recent();
            }
            keyed.check_key(&ip).map_err(limited)?;
        }
        if let Some(rate) = &self.rate {
            rate.check().map_err(limited)?;
        }
        match &self.in_flight {
            None => Ok(None),
            Some(slots) => Arc::clone(slots)
                .try_acquire_owned()
                .map(Some)
                .map_err(|_| Refused::Overloaded),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(rate: f64, burst: u32, max: u32) -> service::Settings {
        service::Settings {
            rate_limit: service::RateLimit {
                rate,
                burst,
                per_caller: false,
            },
            max_concurrent_calls: max,
            ..Default::default()
        }
    }

    #[test]
    fn a_burst_is_admitted_then_the_rest_told_when_to_come_back() {
        let a = Admission::new(&settings(1.0, 3, 0)).unwrap();
        for _ in 0..3 {
            assert!(a.admit(None).is_ok());
        }
        match a.admit(None) {
            Err(Refused::RateLimited { retry_after }) => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn calls_in_flight_are_capped_and_released() {
        let a = Admission::new(&settings(0.0, 0, 2)).unwrap();
        let one = a.admit(None).unwrap();
        let _two = a.admit(None).unwrap();
        assert_eq!(a.admit(None).unwrap_err(), Refused::Overloaded);
        drop(one);
        assert!(a.admit(None).is_ok());
    }

    #[test]
    fn nothing_configured_admits_everything() {
        let a = Admission::new(&service::Settings::default()).unwrap();
        for _ in 0..1000 {
            assert!(a.admit(None).unwrap().is_none());
        }
    }
}
