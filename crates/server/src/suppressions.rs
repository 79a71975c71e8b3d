//! False-positive learning: an alert marked a false positive proposes a suppression scoped
//! to its rule and what its detection named ([`watchpost_core::suppression`]), replayed over
//! the rule's past detections to show what it would have suppressed; once accepted, the
//! detections it matches are kept but raise no alert, and each is counted. Accepted
//! suppressions come up for review and end by themselves.

use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use uuid::Uuid;
use watchpost_core::suppression::conditions_of;
use watchpost_core::{Alert, Detection, Replay, Suppression, SuppressionState};
use watchpost_store::{DetectionQuery, Store, StoreError};

/// How far back a proposal is replayed, and over how many detections at most.
const REPLAY_DAYS: u32 = 30;
const REPLAY_LIMIT: u32 = 10_000;
/// Suppressions in force at most (each is checked against every detection of its rule).
pub const MAX_ACTIVE: usize = 5_000;
/// An accepted suppression's life and review, unless the analyst says otherwise.
pub const DEFAULT_DAYS: u32 = 90;
pub const DEFAULT_REVIEW_DAYS: u32 = 30;

/// Why a change to a suppression cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SuppressionError {
    #[error("no suppression {0}")]
    NotFound(Uuid),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The suppressions in force, by rule, and where they are kept.
pub struct Suppressions {
    store: Arc<dyn Store>,
    active: RwLock<BTreeMap<String, Vec<Suppression>>>,
}

impl Suppressions {
    /// Starts with the suppressions in force read from the store (none when it cannot be
    /// read: detections then raise alerts as before, which is logged).
    pub async fn start(store: Arc<dyn Store>) -> Arc<Suppressions> {
        let desk = Arc::new(Suppressions {
            store,
            active: RwLock::default(),
        });
        if let Err(e) = desk.reload().await {
            tracing::error!(error = %e, "suppressions could not be read: none applies until the next change");
        }
        desk
    }

    async fn reload(&self) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut by_rule: BTreeMap<String, Vec<Suppression>> = BTreeMap::new();
        for s in self
            .store
            .list_suppressions(Some(SuppressionState::Active), MAX_ACTIVE as i64)
            .await?
            .into_iter()
            .filter(|s| s.in_force(now))
        {
            by_rule.entry(s.rule_id.clone()).or_default().push(s);
        }
        *self.active.write().unwrap_or_else(|p| p.into_inner()) = by_rule;
        Ok(())
    }

    /// The detections that raise alerts, those no active suppression covers; `None` when
    /// that is all of them (the usual case, which costs no copy on the folding path).
    /// Each suppression's hits are counted (and stored) as they happen.
    pub async fn filter(&self, detections: &[Detection]) -> Option<Vec<Detection>> {
        let now = Utc::now();
        let mut kept = Vec::with_capacity(detections.len());
        let mut hit: BTreeMap<Uuid, u64> = BTreeMap::new();
        {
            let active = self.active.read().unwrap_or_else(|p| p.into_inner());
            if active.is_empty() {
                return None;
            }
            for d in detections {
                let by = active
                    .get(&d.rule_id)
                    .and_then(|list| list.iter().find(|s| s.in_force(now) && s.matches(d)));
                match by {
                    Some(s) if !d.resolves => *hit.entry(s.id).or_default() += 1,
                    _ => kept.push(d.clone()),
                }
            }
        }
        for (id, n) in hit {
            if let Err(e) = self.count_hits(id, n, now).await {
                tracing::warn!(error = %e, suppression = %id, "a suppression's hits could not be counted");
            }
        }
        (kept.len() < detections.len()).then_some(kept)
    }

    async fn count_hits(&self, id: Uuid, n: u64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let updated = {
            let mut active = self.active.write().unwrap_or_else(|p| p.into_inner());
            let Some(s) = active.values_mut().flatten().find(|s| s.id == id) else {
                return Ok(());
            };
            s.hits += n;
            s.last_hit = Some(now);
            s.clone()
        };
        self.store.upsert_suppression(&updated).await
    }

    /// Proposes a suppression from an alert marked a false positive, or counts the mark on
    /// the proposal or suppression that already has its scope. `None` when the alert's
    /// detection is gone (purged).
    pub async fn propose(
        &self,
        alert: &Alert,
        by: &str,
        reason: Option<&str>,
    ) -> Result<Option<Suppression>, StoreError> {
        let Some(last) = alert.last_detection_id else {
            return Ok(None);
        };
        let Some(detection) = self.store.get_detection(last).await? else {
            return Ok(None);
        };
        let conditions = conditions_of(&detection);
        let existing = self
            .store
            .list_suppressions(None, MAX_ACTIVE as i64)
            .await?
            .into_iter()
            .find(|s| {
                s.rule_id == detection.rule_id
                    && s.conditions == conditions
                    && matches!(
                        s.state,
                        SuppressionState::Proposed | SuppressionState::Active
                    )
            });
        if let Some(mut s) = existing {
            s.marks += 1;
            self.store.upsert_suppression(&s).await?;
            return Ok(Some(s));
        }
        let replay = self.replay(&detection.rule_id, &conditions).await?;
        let s = Suppression {
            from_alert: Some(alert.id),
            replay,
            ..Suppression::proposed(
                &detection.rule_id,
                conditions,
                reason.unwrap_or("marked a false positive"),
                by,
            )
        };
        self.store.upsert_suppression(&s).await?;
        tracing::info!(id = %s.id, rule = %s.rule_id, would_suppress = s.replay.would_suppress,
            "a suppression is proposed from a false positive");
        Ok(Some(s))
    }

    /// How many of the rule's detections of the last days the conditions cover.
    async fn replay(
        &self,
        rule_id: &str,
        conditions: &BTreeMap<String, String>,
    ) -> Result<Replay, StoreError> {
        let probe = Suppression {
            state: SuppressionState::Active,
            ..Suppression::proposed(rule_id, conditions.clone(), "", "")
        };
        let mut replay = Replay {
            days: REPLAY_DAYS,
            ..Replay::default()
        };
        let mut cursor = None;
        loop {
            let page = self
                .store
                .query_detections(&DetectionQuery {
                    rule_id: Some(rule_id.to_string()),
                    from: Some(Utc::now() - Duration::days(i64::from(REPLAY_DAYS))),
                    cursor,
                    limit: Some(1_000),
                    ..DetectionQuery::default()
                })
                .await?;
            for d in &page.items {
                replay.of += 1;
                if probe.matches(d) {
                    replay.would_suppress += 1;
                }
            }
            match page.next_cursor {
                Some(next) if replay.of < u64::from(REPLAY_LIMIT) => {
                    match watchpost_store::Cursor::decode(&next) {
                        Ok(c) => cursor = Some(c),
                        Err(_) => break,
                    }
                }
                Some(_) => {
                    replay.truncated = true;
                    break;
                }
                None => break,
            }
        }
        Ok(replay)
    }

    /// Accepts a proposal: it suppresses from now on, for `days`, up for review after
    /// `review_days`.
    pub async fn accept(
        &self,
        id: Uuid,
        by: &str,
        days: u32,
        review_days: u32,
    ) -> Result<Suppression, SuppressionError> {
        let mut s = self.load(id).await?;
        if s.state != SuppressionState::Proposed {
            return Err(SuppressionError::Conflict(format!(
                "suppression {id} is {}: only a proposal can be accepted",
                s.state.as_str()
            )));
        }
        let in_force = self
            .active
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(Vec::len)
            .sum::<usize>();
        if in_force >= MAX_ACTIVE {
            return Err(SuppressionError::Conflict(format!(
                "{MAX_ACTIVE} suppressions are in force already: end some first"
            )));
        }
        let now = Utc::now();
        s.state = SuppressionState::Active;
        s.decided_by = Some(by.to_string());
        s.decided_at = Some(now);
        s.expires_at = Some(now + Duration::days(i64::from(days)));
        s.review_at = Some(now + Duration::days(i64::from(review_days.min(days))));
        self.store.upsert_suppression(&s).await?;
        self.reload().await?;
        Ok(s)
    }

    /// Rejects a proposal (`from` proposed), or ends a suppression in force (`from`
    /// active).
    pub async fn decline(
        &self,
        id: Uuid,
        by: &str,
        from: SuppressionState,
    ) -> Result<Suppression, SuppressionError> {
        let mut s = self.load(id).await?;
        if s.state != from {
            return Err(SuppressionError::Conflict(format!(
                "suppression {id} is {}, not {}",
                s.state.as_str(),
                from.as_str()
            )));
        }
        s.state = match from {
            SuppressionState::Proposed => SuppressionState::Rejected,
            _ => SuppressionState::Expired,
        };
        s.decided_by = Some(by.to_string());
        s.decided_at = Some(Utc::now());
        self.store.upsert_suppression(&s).await?;
        self.reload().await?;
        Ok(s)
    }

    /// Marks suppressions whose time ran out as expired.
    pub async fn expire(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let due: Vec<Suppression> = self
            .active
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .flatten()
            .filter(|s| !s.in_force(now))
            .cloned()
            .collect();
        for mut s in due {
            s.state = SuppressionState::Expired;
            self.store.upsert_suppression(&s).await?;
        }
        self.reload().await
    }

    async fn load(&self, id: Uuid) -> Result<Suppression, SuppressionError> {
        self.store
            .get_suppression(id)
            .await?
            .ok_or(SuppressionError::NotFound(id))
    }

    /// False positives marked per rule (every proposal's marks), for the rules page.
    pub async fn false_positives_by_rule(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut out: BTreeMap<String, u64> = BTreeMap::new();
        for s in self
            .store
            .list_suppressions(None, MAX_ACTIVE as i64)
            .await?
        {
            *out.entry(s.rule_id).or_default() += s.marks;
        }
        Ok(out)
    }
}
