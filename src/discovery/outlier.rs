//! Outlier detection for the client-side balancer, as Envoy defines it: an instance that
//! fails `consecutiveFailures` calls in a row is ejected (taken out of rotation) for
//! `baseEjectionTime` × the number of times it has been ejected, up to `maxEjectionTime`;
//! at most `maxEjectionPercent` of a service's instances (but always at least one) are
//! ejected at once. When its time is up, an ejected instance is probed (a gRPC health check)
//! before it takes traffic again, and then it is on probation: its first failure ejects it
//! again, its first success clears it. The multiplier decays by one for each
//! `baseEjectionTime` the instance stays healthy.
//!
//! Before that, a single failure makes an instance skipped for [`SKIP_AFTER_FAILURE`] while
//! other instances can take the calls (as gRPC skips a subchannel in transient failure):
//! a killed instance then costs a caller one failed attempt, not one per call until it is
//! ejected, and the retry budget is kept for real trouble.
//!
//! This module only keeps the books; [`super::balancer`] feeds it outcomes, runs the probes
//! and reports what changed.

use std::{collections::HashMap, time::Duration};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::config::value;

/// When every instance is ejected, each is probed this often, so a service that comes
/// back is used again within about this long rather than after its ejection time.
pub const PROBE_WHEN_ALL_EJECTED: Duration = Duration::from_secs(1);

/// How long an instance that just failed is passed over while others are in rotation.
pub const SKIP_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// The `calls.outlierDetection` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct OutlierSettings {
    /// Failures in a row (UNAVAILABLE, refused connection, no answer within the per-try
    /// timeout) that eject an instance; 0 turns ejection off.
    pub consecutive_failures: u32,
    pub base_ejection_time: value::Duration,
    pub max_ejection_time: value::Duration,
    /// The share of a service's instances that may be ejected at once; one always may.
    pub max_ejection_percent: u32,
}

impl Default for OutlierSettings {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            base_ejection_time: value::Duration::from_secs(10),
            max_ejection_time: value::Duration::from_secs(300),
            max_ejection_percent: 50,
        }
    }
}

impl OutlierSettings {
    pub fn check(&self) -> Result<(), String> {
        if self.max_ejection_percent > 100 {
            return Err(format!(
                "calls.outlierDetection.maxEjectionPercent {}: expected 0 to 100",
                self.max_ejection_percent
            ));
        }
        if self.max_ejection_time < self.base_ejection_time {
            return Err(format!(
                "calls.outlierDetection.maxEjectionTime {} is shorter than baseEjectionTime {}",
                self.max_ejection_time, self.base_ejection_time
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// In rotation.
    Active,
    /// Out of rotation until the time given, then probed.
    Ejected { until: Instant },
    /// A health probe is under way.
    Probing { until: Instant },
    /// Back in rotation after a probe; the next failure ejects again.
    Probation,
}

#[derive(Debug)]
struct Host {
    state: State,
    failures: u32,
    /// Times ejected, less one for each base ejection time spent healthy since.
    ejections: u32,
    /// Since when it has been in rotation (for the decay of `ejections`); `None` while out.
    healthy_since: Option<Instant>,
    /// When it was last probed early (every instance ejected).
    probed: Option<Instant>,
    /// Passed over until then, while others are in rotation (it just failed).
    skip_until: Option<Instant>,
}

impl Host {
    fn new(now: Instant) -> Self {
        Self {
            state: State::Active,
            failures: 0,
            ejections: 0,
            healthy_since: Some(now),
            probed: None,
            skip_until: None,
        }
    }
}

/// A change worth reporting (metrics, logs, the registry).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Ejected {
        addr: String,
        for_: Duration,
        failures: u32,
    },
    Restored {
        addr: String,
    },
}

/// Why no instance could be picked although some are registered.
#[derive(Debug, Clone, PartialEq)]
pub struct AllEjected {
    pub instances: usize,
    /// Until the soonest ejection ends.
    pub next: Duration,
}

/// The outlier books of one service's instances.
#[derive(Debug)]
pub struct Outliers {
    settings: OutlierSettings,
    hosts: HashMap<String, Host>,
}

impl Outliers {
    pub fn new(settings: OutlierSettings) -> Self {
        Self {
            settings,
            hosts: HashMap::new(),
        }
    }

    /// True when `addr` may take calls.
    pub fn usable(&self, addr: &str) -> bool {
        self.hosts
            .get(addr)
            .is_none_or(|h| matches!(h.state, State::Active | State::Probation))
    }

    /// True when `addr` failed just now: prefer others while there are any.
    pub fn skipped(&self, addr: &str, now: Instant) -> bool {
        self.hosts
            .get(addr)
            .and_then(|h| h.skip_until)
            .is_some_and(|until| until > now)
    }

    /// How many instances are out of rotation.
    pub fn ejected(&self) -> usize {
        self.hosts
            .values()
            .filter(|h| matches!(h.state, State::Ejected { .. } | State::Probing { .. }))
            .count()
    }

    /// Forgets instances no longer registered.
    pub fn retain(&mut self, addrs: &[String]) {
        self.hosts.retain(|addr, _| addrs.contains(addr));
    }

    /// A call to `addr` succeeded.
    pub fn succeeded(&mut self, addr: &str) {
        if let Some(host) = self.hosts.get_mut(addr) {
            host.failures = 0;
            host.skip_until = None;
            if host.state == State::Probation {
                host.state = State::Active;
            }
        }
    }

    /// A call to `addr` failed because the instance did; `instances` is how many the service
    /// has. Returns the ejection, if this failure caused one.
    pub fn failed(&mut self, addr: &str, instances: usize, now: Instant) -> Option<Event> {
        if self.settings.consecutive_failures == 0 {
            return None;
        }
        let ejected = self.ejected();
        let allowed = (instances * self.settings.max_ejection_percent as usize / 100).max(1);
        let host = self
            .hosts
            .entry(addr.to_owned())
            .or_insert_with(|| Host::new(now));
        host.failures = host.failures.saturating_add(1);
        let due = match host.state {
            State::Probation => true,
            State::Active => host.failures >= self.settings.consecutive_failures,
            // Already out (a call that picked it before the ejection).
            State::Ejected { .. } | State::Probing { .. } => return None,
        };
        if !due || ejected >= allowed {
            host.skip_until = Some(now + SKIP_AFTER_FAILURE);
            return None;
        }
        Some(eject(addr, host, &self.settings, now))
    }

    /// The instances to probe now: those whose ejection is over, and, when every one of
    /// `addrs` is out, any not probed in the last [`PROBE_WHEN_ALL_EJECTED`].
    pub fn due_probes(&mut self, addrs: &[String], now: Instant) -> Vec<String> {
        let all_out = !addrs.is_empty() && addrs.iter().all(|a| !self.usable(a));
        let mut due = Vec::new();
        for (addr, host) in &mut self.hosts {
            let State::Ejected { until } = host.state else {
                continue;
            };
            let early = all_out
                && host
                    .probed
                    .is_none_or(|at| now.duration_since(at) >= PROBE_WHEN_ALL_EJECTED);
            if until <= now || early {
                host.state = State::Probing { until };
                host.probed = Some(now);
                due.push(addr.clone());
            }
        }
        due
    }

    /// The probe of `addr` answered `healthy`. A healthy instance goes on probation; an
    /// unhealthy one stays out, for longer if its ejection time was up.
    pub fn probed(&mut self, addr: &str, healthy: bool, now: Instant) -> Option<Event> {
        let host = self.hosts.get_mut(addr)?;
        let State::Probing { until } = host.state else {
            return None;
        };
        if healthy {
            host.state = State::Probation;
            host.failures = 0;
            host.healthy_since = Some(now);
            return Some(Event::Restored {
                addr: addr.to_owned(),
            });
        }
        if until > now {
            // An early probe: the ejection runs its course.
            host.state = State::Ejected { until };
            return None;
        }
        Some(eject(addr, host, &self.settings, now))
    }

    /// Why nothing among `addrs` is usable, when all are out.
    pub fn all_ejected(&self, addrs: &[String], now: Instant) -> Option<AllEjected> {
        if addrs.is_empty() || addrs.iter().any(|a| self.usable(a)) {
            return None;
        }
        let next = addrs
            .iter()
            .filter_map(|a| match self.hosts.get(a)?.state {
                State::Ejected { until } | State::Probing { until } => {
                    Some(until.saturating_duration_since(now))
                }
                _ => None,
            })
            .min()
            .unwrap_or_default();
        Some(AllEjected {
            instances: addrs.len(),
            next,
        })
    }
}

/// Takes `host` (at `addr`) out of rotation.
fn eject(addr: &str, host: &mut Host, settings: &OutlierSettings, now: Instant) -> Event {
    let failures = host.failures;
    let base = settings.base_ejection_time.get();
    let healthy_periods = host.healthy_since.map_or(0, |since| {
        u32::try_from(now.duration_since(since).as_nanos() / base.as_nanos().max(1))
            .unwrap_or(u32::MAX)
    });
    host.ejections = host.ejections.saturating_sub(healthy_periods) + 1;
    let for_ = base
        .saturating_mul(host.ejections)
        .min(settings.max_ejection_time.get());
    host.state = State::Ejected { until: now + for_ };
    host.failures = 0;
    host.healthy_since = None;
    // Not probed early at once: the failures just now are news enough.
    host.probed = Some(now);
    host.skip_until = None;
    Event::Ejected {
        addr: addr.to_owned(),
        for_,
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("127.0.0.1:{i}")).collect()
    }

    fn fail(o: &mut Outliers, addr: &str, n: usize, times: u32, now: Instant) -> Option<Event> {
        (0..times).filter_map(|_| o.failed(addr, n, now)).last()
    }

    #[test]
    fn consecutive_failures_eject_and_a_success_resets_the_count() {
        let mut o = Outliers::new(OutlierSettings::default());
        let now = Instant::now();
        let a = &addrs(2)[0];
        assert_eq!(fail(&mut o, a, 2, 4, now), None);
        assert!(
            o.skipped(a, now) && o.usable(a),
            "skipped while others can serve"
        );
        assert!(!o.skipped(a, now + SKIP_AFTER_FAILURE));
        o.succeeded(a);
        assert!(!o.skipped(a, now));
        assert_eq!(
            fail(&mut o, a, 2, 4, now),
            None,
            "the success reset the count"
        );
        assert!(o.usable(a));
        let event = o.failed(a, 2, now).unwrap();
        assert_eq!(
            event,
            Event::Ejected {
                addr: a.clone(),
                for_: Duration::from_secs(10),
                failures: 5
            }
        );
        assert!(!o.usable(a));
        assert_eq!(o.ejected(), 1);
    }

    #[test]
    fn at_most_the_share_is_ejected_but_always_one() {
        let mut o = Outliers::new(OutlierSettings::default());
        let now = Instant::now();
        let all = addrs(3);
        assert!(fail(&mut o, &all[0], 3, 5, now).is_some());
        // 50% of 3 is one instance: the second stays in rotation however it fails.
        assert!(fail(&mut o, &all[1], 3, 20, now).is_none());
        assert!(o.usable(&all[1]));
        assert_eq!(o.all_ejected(&all, now), None);
        // One instance of one may always be ejected; then calls fail fast.
        let mut single = Outliers::new(OutlierSettings::default());
        let one = addrs(1);
        assert!(fail(&mut single, &one[0], 1, 5, now).is_some());
        assert_eq!(
            single.all_ejected(&one, now),
            Some(AllEjected {
                instances: 1,
                next: Duration::from_secs(10)
            })
        );
    }

    #[test]
    fn probed_after_the_ejection_then_on_probation_and_times_grow() {
        let mut o = Outliers::new(OutlierSettings::default());
        let all = addrs(2);
        let a = &all[0];
        let t0 = Instant::now();
        fail(&mut o, a, 2, 5, t0).unwrap();
        assert!(o.due_probes(&all, t0 + Duration::from_secs(9)).is_empty());
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(o.due_probes(&all, t1), vec![a.clone()]);
        assert!(!o.usable(a), "not in rotation while probing");
        // A failed probe ejects again, for twice as long.
        let again = o.probed(a, false, t1).unwrap();
        assert!(matches!(again, Event::Ejected { for_, .. } if for_ == Duration::from_secs(20)));
        let t2 = t1 + Duration::from_secs(20);
        assert_eq!(o.due_probes(&all, t2), vec![a.clone()]);
        assert_eq!(
            o.probed(a, true, t2),
            Some(Event::Restored { addr: a.clone() })
        );
        assert!(o.usable(a));
        // On probation, one failure is enough: the third ejection lasts 30 s.
        let third = o.failed(a, 2, t2).unwrap();
        assert!(matches!(third, Event::Ejected { for_, .. } if for_ == Duration::from_secs(30)));
        // Long healthy stretches decay the multiplier back to one.
        let t3 = t2 + Duration::from_secs(30);
        o.due_probes(&all, t3);
        o.probed(a, true, t3);
        o.succeeded(a);
        let t4 = t3 + Duration::from_secs(600);
        let fourth = fail(&mut o, a, 2, 5, t4).unwrap();
        assert!(matches!(fourth, Event::Ejected { for_, .. } if for_ == Duration::from_secs(10)));
    }

    #[test]
    fn when_all_are_out_they_are_probed_early_without_growing() {
        let mut o = Outliers::new(OutlierSettings::default());
        let one = addrs(1);
        let t0 = Instant::now();
        fail(&mut o, &one[0], 1, 5, t0).unwrap();
        assert!(o.due_probes(&one, t0).is_empty(), "not at once");
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(o.due_probes(&one, t1), one);
        assert_eq!(
            o.probed(&one[0], false, t1),
            None,
            "an early probe's failure"
        );
        assert!(o.due_probes(&one, t1).is_empty(), "once a second at most");
        let t2 = t1 + Duration::from_secs(1);
        assert_eq!(o.due_probes(&one, t2), one);
        assert!(matches!(
            o.probed(&one[0], true, t2),
            Some(Event::Restored { .. })
        ));
        assert_eq!(o.all_ejected(&one, t2), None);
    }

    #[test]
    fn zero_failures_turns_ejection_off_and_settings_are_checked() {
        let mut o = Outliers::new(OutlierSettings {
            consecutive_failures: 0,
            ..OutlierSettings::default()
        });
        assert_eq!(fail(&mut o, "a", 1, 50, Instant::now()), None);
        let bad = OutlierSettings {
            max_ejection_percent: 101,
            ..OutlierSettings::default()
        };
        assert!(bad.check().unwrap_err().contains("101"));
    }
}
