//! How many automatic actions may run, and the breaker that stops a runaway playbook.
//!
//! A detection rule that misfires, or an attacker who spoofs many addresses, can make a
//! playbook act far more often than anyone intended. Each action kind has a budget of
//! automatic actions per minute, over every playbook; the action that would exceed it
//! trips the breaker of its playbook, which then sends its actions to an analyst for
//! approval until the breaker closes again.

use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, VecDeque};
use watchpost_core::ActionKind;

/// Automatic actions per minute of each kind unless configured otherwise.
pub fn default_budget(kind: ActionKind) -> u32 {
    match kind {
        ActionKind::BlockAddress => 60,
        ActionKind::KillProcess | ActionKind::QuarantineFile => 20,
        ActionKind::LockAccount => 5,
        ActionKind::IsolateHost => 2,
        ActionKind::SuspendAccount => 10,
        ActionKind::Notify => 30,
    }
}

/// Whether an automatic action may run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// The playbook's breaker is open until then: the action waits for approval.
    /// `tripped_now` is true for the action that tripped it.
    Tripped {
        until: DateTime<Utc>,
        tripped_now: bool,
    },
}

/// The budget and the breakers.
#[derive(Debug, Clone)]
pub struct Budget {
    per_minute: BTreeMap<ActionKind, u32>,
    breaker: Duration,
    taken: BTreeMap<ActionKind, VecDeque<DateTime<Utc>>>,
    open_until: BTreeMap<String, DateTime<Utc>>,
}

impl Budget {
    /// `per_minute` overrides the default budget of the kinds it names; the breaker stays
    /// open for `breaker`.
    pub fn new(per_minute: &BTreeMap<ActionKind, u32>, breaker: Duration) -> Budget {
        let per_minute = ActionKind::ALL
            .into_iter()
            .map(|k| (k, per_minute.get(&k).copied().unwrap_or(default_budget(k))))
            .collect();
        Budget {
            per_minute,
            breaker,
            taken: BTreeMap::new(),
            open_until: BTreeMap::new(),
        }
    }

    /// Takes one automatic action of `kind` for `playbook` from the budget, or says the
    /// playbook's breaker is open.
    pub fn admit(&mut self, playbook: &str, kind: ActionKind, now: DateTime<Utc>) -> Admission {
        if let Some(until) = self.open_until.get(playbook) {
            if now < *until {
                return Admission::Tripped {
                    until: *until,
                    tripped_now: false,
                };
            }
            self.open_until.remove(playbook);
        }
        let limit = self.per_minute.get(&kind).copied().unwrap_or(0) as usize;
        let taken = self.taken.entry(kind).or_default();
        while taken
            .front()
            .is_some_and(|t| *t <= now - Duration::minutes(1))
        {
            taken.pop_front();
        }
        if taken.len() >= limit {
            let until = now + self.breaker;
            self.open_until.insert(playbook.to_string(), until);
            return Admission::Tripped {
                until,
                tripped_now: true,
            };
        }
        taken.push_back(now);
        Admission::Allowed
    }

    /// Playbooks whose breaker is open at `now`, with when it closes.
    pub fn open_breakers(&self, now: DateTime<Utc>) -> Vec<(String, DateTime<Utc>)> {
        self.open_until
            .iter()
            .filter(|(_, until)| now < **until)
            .map(|(name, until)| (name.clone(), *until))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_past_the_budget_trips_the_playbooks_breaker_for_a_while() {
        let limits = BTreeMap::from([(ActionKind::BlockAddress, 3)]);
        let mut budget = Budget::new(&limits, Duration::minutes(15));
        let t0 = Utc::now();
        for _ in 0..3 {
            assert_eq!(
                budget.admit("contain", ActionKind::BlockAddress, t0),
                Admission::Allowed
            );
        }
        assert!(matches!(
            budget.admit("contain", ActionKind::BlockAddress, t0),
            Admission::Tripped {
                tripped_now: true,
                ..
            }
        ));
        // Open: even another kind of action of this playbook waits, a minute later too.
        assert!(matches!(
            budget.admit("contain", ActionKind::Notify, t0 + Duration::minutes(2)),
            Admission::Tripped {
                tripped_now: false,
                ..
            }
        ));
        // Another playbook still has the other kinds' budget, but not this kind's.
        assert_eq!(
            budget.admit("other", ActionKind::Notify, t0),
            Admission::Allowed
        );
        assert_eq!(budget.open_breakers(t0).len(), 1);
        // Closed again after the breaker's time, with the minute's budget back.
        assert_eq!(
            budget.admit(
                "contain",
                ActionKind::BlockAddress,
                t0 + Duration::minutes(16)
            ),
            Admission::Allowed
        );
        assert!(budget.open_breakers(t0 + Duration::minutes(16)).is_empty());
    }

    #[test]
    fn the_budget_is_per_kind_and_per_minute() {
        let mut budget = Budget::new(&BTreeMap::new(), Duration::minutes(15));
        let t0 = Utc::now();
        for i in 0..default_budget(ActionKind::IsolateHost) {
            assert_eq!(
                budget.admit(
                    "p",
                    ActionKind::IsolateHost,
                    t0 + Duration::seconds(i as i64)
                ),
                Admission::Allowed
            );
        }
        assert_eq!(
            budget.admit("q", ActionKind::KillProcess, t0),
            Admission::Allowed,
            "kills have their own budget"
        );
        assert_eq!(
            budget.admit("p", ActionKind::IsolateHost, t0 + Duration::seconds(61)),
            Admission::Allowed,
            "a minute later the first isolation no longer counts"
        );
    }
}
