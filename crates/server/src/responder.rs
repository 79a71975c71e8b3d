//! The responder: runs the configured playbooks on incidents as they change, and carries
//! out, queues, undoes and expires their actions.
//!
//! Incidents reach it from the incident desk, coalesced by id (an incident that changes
//! ten times while a round runs is looked at once more, not ten times), so grouping never
//! waits on a response. Each action is recorded before anything is done; a playbook in
//! `simulate` mode only records, one in `approve` mode waits for an analyst, one in `auto`
//! mode acts within the budget and waits for an analyst once its breaker trips. Bans
//! become decisions (every proxy, tower layer and bouncer applies them); host actions are
//! queued for the agent of their host, which takes them over its own channel and reports
//! each result.

use crate::alerting::AlertDesk;
use crate::stream::Hub;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Notify;
use uuid::Uuid;
use watchpost_config::ConfigHandle;
use watchpost_core::{
    Action, ActionKind, ActionResult, ActionState, ActionTarget, Decision, DecisionScope,
    Detection, Entity, Incident, Severity,
};
use watchpost_playbook::{Admission, Budget, Mode, Playbook, PlaybookConfig};
use watchpost_response::{DecisionRequest, Guards, decide};
use watchpost_store::{ActionQuery, Store, StoreError};

/// Actions looked at per incident at most (to know what was already proposed).
const MAX_ACTIONS_PER_INCIDENT: i64 = 1_000;
/// How often actions whose time to live ended are undone.
const EXPIRY_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// An action an agent took and did not report on within this long is handed out again.
const UNREPORTED_AFTER: Duration = Duration::minutes(5);
/// Why an action failed or was refused, kept to this many characters.
const MAX_MESSAGE_CHARS: usize = 2_000;

/// The playbooks compiled from the configuration they came from.
struct Compiled {
    from: Vec<PlaybookConfig>,
    playbooks: Arc<Vec<Playbook>>,
    budget_from: (BTreeMap<String, u32>, u64),
}

/// Runs playbooks and their actions.
pub struct Responder {
    store: Arc<dyn Store>,
    config: Arc<ConfigHandle>,
    hub: Hub,
    web: Arc<watchpost_web::Shield>,
    metrics: Arc<crate::metrics::Metrics>,
    alerts: Weak<AlertDesk>,
    /// Incidents changed since the last round, by id.
    pending: Mutex<HashMap<Uuid, Incident>>,
    wake: Notify,
    /// Rung when host actions are queued: agents waiting for work look again.
    queued: Notify,
    compiled: Mutex<Compiled>,
    budget: Mutex<Budget>,
}

/// Why an analyst's request about an action cannot be done.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no action {0}")]
    NotFound(Uuid),
    /// The action is not in a state that allows it (`conflict`).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Responder {
    pub fn new(
        store: Arc<dyn Store>,
        config: Arc<ConfigHandle>,
        hub: Hub,
        web: Arc<watchpost_web::Shield>,
        metrics: Arc<crate::metrics::Metrics>,
        alerts: Weak<AlertDesk>,
    ) -> Arc<Responder> {
        let response = config.get().response.clone();
        let playbooks = watchpost_playbook::compile_all(&response.playbooks).unwrap_or_default();
        Arc::new(Responder {
            store,
            hub,
            web,
            metrics,
            alerts,
            pending: Mutex::default(),
            wake: Notify::new(),
            queued: Notify::new(),
            budget: Mutex::new(budget_of(&response)),
            compiled: Mutex::new(Compiled {
                from: response.playbooks.clone(),
                playbooks: Arc::new(playbooks),
                budget_from: (response.budget_per_minute.clone(), response.breaker_minutes),
            }),
            config,
        })
    }

    /// Hands changed incidents over; the responder's task looks at them soon after.
    pub fn offer(&self, incidents: &[Incident]) {
        if incidents.is_empty() || self.playbooks().is_empty() {
            return;
        }
        let mut pending = lock(&self.pending);
        for incident in incidents {
            pending.insert(incident.id, incident.clone());
        }
        drop(pending);
        self.wake.notify_one();
    }

    /// Runs rounds as incidents are offered, and undoes expired actions, until `shutdown`.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut expiry = tokio::time::interval(EXPIRY_EVERY);
        loop {
            tokio::select! {
                _ = self.wake.notified() => self.round().await,
                _ = expiry.tick() => self.expire(Utc::now()).await,
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Waits up to `wait` for host actions to be queued (an agent's long poll).
    pub async fn queued_or(&self, wait: std::time::Duration) {
        let _ = tokio::time::timeout(wait, self.queued.notified()).await;
    }

    /// The playbooks of the configuration in force (recompiled after a reload; a reload
    /// the configuration loader refused never gets here).
    fn playbooks(&self) -> Arc<Vec<Playbook>> {
        let response = self.config.get().response.clone();
        let mut compiled = lock(&self.compiled);
        if compiled.from != response.playbooks {
            match watchpost_playbook::compile_all(&response.playbooks) {
                Ok(playbooks) => {
                    tracing::info!(count = playbooks.len(), "playbooks reloaded");
                    compiled.playbooks = Arc::new(playbooks);
                }
                Err(errors) => tracing::warn!(?errors, "playbooks not reloaded"),
            }
            compiled.from = response.playbooks.clone();
        }
        let budget_from = (response.budget_per_minute.clone(), response.breaker_minutes);
        if compiled.budget_from != budget_from {
            *lock(&self.budget) = budget_of(&response);
            compiled.budget_from = budget_from;
        }
        compiled.playbooks.clone()
    }

    async fn round(&self) {
        let incidents: Vec<Incident> = lock(&self.pending).drain().map(|(_, i)| i).collect();
        let playbooks = self.playbooks();
        for incident in &incidents {
            for playbook in playbooks.iter().filter(|p| p.matches(incident)) {
                if let Err(e) = self.run_playbook(playbook, incident).await {
                    tracing::error!(error = %e, playbook = %playbook.name, incident = %incident.id,
                        "a playbook could not record its actions: it runs again with the incident's next change");
                }
            }
        }
    }

    /// Proposes the actions `playbook` calls for on `incident` that it has not proposed
    /// before, and takes each as the playbook's mode and the budget say.
    async fn run_playbook(
        &self,
        playbook: &Playbook,
        incident: &Incident,
    ) -> Result<(), StoreError> {
        let origin = format!("playbook:{}", playbook.name);
        let known: HashSet<(ActionKind, ActionTarget)> = self
            .store
            .query_actions(&ActionQuery {
                incident: Some(incident.id),
                limit: MAX_ACTIONS_PER_INCIDENT,
                ..ActionQuery::default()
            })
            .await?
            .into_iter()
            .filter(|a| a.origin == origin)
            .map(|a| (a.kind, a.target))
            .collect();
        for planned in playbook.plan(incident) {
            if known.contains(&(planned.kind, planned.target.clone())) {
                continue;
            }
            let reason = format!(
                "playbook {} on incident \"{}\" (risk {})",
                playbook.name, incident.title, incident.risk.score
            );
            let mut action = Action::new(planned.kind, planned.target, &origin, &reason);
            action.incident_id = Some(incident.id);
            action.ttl_seconds = planned.ttl_seconds;
            action.history.push(watchpost_core::ActionStep {
                at: action.created_at,
                by: origin.clone(),
                what: format!("proposed ({} mode)", playbook.mode.as_str()),
            });
            match playbook.mode {
                Mode::Simulate => self.simulate(&mut action, incident).await,
                Mode::Approve => action.step(
                    ActionState::Pending,
                    &origin,
                    "waits for approval: the playbook is in approve mode",
                ),
                Mode::Auto => {
                    let admission =
                        lock(&self.budget).admit(&playbook.name, action.kind, Utc::now());
                    match admission {
                        Admission::Allowed => self.execute(&mut action, &origin, incident).await,
                        Admission::Tripped { until, tripped_now } => {
                            if tripped_now {
                                self.metrics.refusal("response_breaker", 1);
                                tracing::warn!(playbook = %playbook.name, kind = action.kind.as_str(), %until,
                                    "the action budget is spent: the playbook's actions wait for approval until its breaker closes");
                            }
                            action.step(
                                ActionState::Pending,
                                &origin,
                                format!(
                                    "waits for approval: the budget of {} actions per minute is spent and the playbook's breaker is open until {}",
                                    action.kind.as_str(),
                                    until.to_rfc3339()
                                ),
                            );
                        }
                    }
                }
            }
            self.save(&action).await?;
        }
        Ok(())
    }

    /// Records what the action would have done, guards included, and changes nothing.
    async fn simulate(&self, action: &mut Action, incident: &Incident) {
        let by = action.origin.clone();
        let would = match self.refusal(action).await {
            Some(why) => format!("would have been refused: {why}"),
            None => format!("would have done: {}", describe(action, incident)),
        };
        action.step(ActionState::Simulated, &by, would);
    }

    /// Carries an action out (a ban, a notification) or queues it for its host's agent.
    async fn execute(&self, action: &mut Action, by: &str, incident: &Incident) {
        if let Some(why) = self.refusal(action).await {
            self.metrics.refusal("response_guard", 1);
            tracing::warn!(kind = action.kind.as_str(), target = %action.target, %why,
                "a response action was refused by a guard");
            action.result = Some(ActionResult {
                ok: false,
                message: why.clone(),
                undo: serde_json::Value::Null,
            });
            action.step(ActionState::Refused, by, format!("refused: {why}"));
            return;
        }
        match (&action.kind, &action.target) {
            (ActionKind::BlockAddress, ActionTarget::Address { ip }) => {
                let ip = ip.clone();
                self.ban(action, &ip, by).await
            }
            (ActionKind::SuspendAccount, ActionTarget::AppAccount { user }) => {
                let user = user.clone();
                self.suspend(action, &user, by).await
            }
            (ActionKind::Notify, _) => self.notify(action, by, incident).await,
            (kind, target) if kind.on_host() && target.host().is_some() => {
                let host = target.host().unwrap_or_default().to_string();
                action.step(
                    ActionState::Queued,
                    by,
                    format!("queued for the agent of {host}"),
                );
                self.queued.notify_waiters();
            }
            (kind, target) => {
                let message = format!("{} cannot act on {target}", kind.as_str());
                action.result = Some(ActionResult {
                    ok: false,
                    message: message.clone(),
                    undo: serde_json::Value::Null,
                });
                action.step(ActionState::Failed, by, message);
            }
        }
    }

    /// Why a guard refuses the action, if one does: the decision guards for bans
    /// (loopback, this server's addresses, its senders' links, allowlisted and protected
    /// ranges), protected accounts for locks, the first processes for kills.
    async fn refusal(&self, action: &Action) -> Option<String> {
        match &action.target {
            ActionTarget::Address { ip } => {
                let guards = match decision_guards(self.store.as_ref(), &self.config).await {
                    Ok(g) => g,
                    Err(e) => return Some(format!("the guards could not be read: {e}")),
                };
                decide(&self.ban_request(action, ip), &guards, "check", Utc::now())
                    .err()
                    .map(|r| r.message)
            }
            ActionTarget::Account { user, .. } | ActionTarget::AppAccount { user } => {
                let protected = &self.config.get().response.protected_accounts;
                protected
                    .iter()
                    .any(|p| p == user)
                    .then(|| format!("account `{user}` is protected (response.protected_accounts)"))
            }
            ActionTarget::Process { pid, .. } if *pid <= 1 => {
                Some(format!("process {pid} is the system's own"))
            }
            _ => None,
        }
    }

    fn ban_request(&self, action: &Action, ip: &str) -> DecisionRequest {
        DecisionRequest {
            value: ip.to_string(),
            duration: format!("{}s", action.ttl_seconds.max(1)),
            reason: truncate(&action.reason, 400),
            ..DecisionRequest::default()
        }
    }

    async fn ban(&self, action: &mut Action, ip: &str, by: &str) {
        let outcome = async {
            let guards = decision_guards(self.store.as_ref(), &self.config)
                .await
                .map_err(|e| e.to_string())?;
            let mut decision = decide(
                &self.ban_request(action, ip),
                &guards,
                &action.origin,
                Utc::now(),
            )
            .map_err(|r| r.message)?;
            decision.id = self
                .store
                .insert_decision(&decision)
                .await
                .map_err(|e| e.to_string())?;
            enforce_here(&self.web, &decision);
            Ok::<Decision, String>(decision)
        }
        .await;
        match outcome {
            Ok(decision) => {
                let message = format!(
                    "decision {} bans {} until {}",
                    decision.id,
                    decision.value,
                    decision.until.to_rfc3339()
                );
                action.done_at = Some(Utc::now());
                action.undo = format!("lift decision {}", decision.id);
                action.result = Some(ActionResult {
                    ok: true,
                    message: message.clone(),
                    undo: serde_json::json!({ "decision": decision.id }),
                });
                action.step(ActionState::Done, by, message);
            }
            Err(why) => {
                action.result = Some(ActionResult {
                    ok: false,
                    message: truncate(&why, MAX_MESSAGE_CHARS),
                    undo: serde_json::Value::Null,
                });
                action.step(ActionState::Failed, by, format!("failed: {why}"));
            }
        }
    }

    /// Suspends an application account: a decision of scope `username` (every layer
    /// following the decision stream refuses the account), and the applications configured
    /// are told by a signed webhook.
    async fn suspend(&self, action: &mut Action, user: &str, by: &str) {
        let request = DecisionRequest {
            scope: Some("username".into()),
            value: user.to_string(),
            duration: format!("{}s", action.ttl_seconds.max(1)),
            reason: truncate(&action.reason, 400),
            ..DecisionRequest::default()
        };
        let decided = match decide(&request, &Guards::default(), &action.origin, Utc::now()) {
            Ok(mut decision) => match self.store.insert_decision(&decision).await {
                Ok(id) => {
                    decision.id = id;
                    Ok(decision)
                }
                Err(e) => Err(e.to_string()),
            },
            Err(refusal) => Err(refusal.message),
        };
        let decision = match decided {
            Ok(d) => d,
            Err(why) => {
                action.result = Some(ActionResult {
                    ok: false,
                    message: truncate(&why, MAX_MESSAGE_CHARS),
                    undo: serde_json::Value::Null,
                });
                action.step(ActionState::Failed, by, format!("failed: {why}"));
                return;
            }
        };
        let hooks = self.config.get().response.account_webhooks.clone();
        let told =
            crate::account_hooks::tell(&hooks, "account.suspended", action, user, Some(&decision))
                .await;
        let mut message = format!(
            "decision {} suspends account {user} until {}",
            decision.id,
            decision.until.to_rfc3339()
        );
        if !told.is_empty() {
            message.push_str(&format!("; applications told: {}", told.join(", ")));
        }
        action.done_at = Some(Utc::now());
        action.undo = format!("lift decision {} and tell the applications", decision.id);
        action.result = Some(ActionResult {
            ok: true,
            message: truncate(&message, MAX_MESSAGE_CHARS),
            undo: serde_json::json!({ "decision": decision.id }),
        });
        action.step(ActionState::Done, by, message);
    }

    /// Raises an alert about the incident through the alert pipeline.
    async fn notify(&self, action: &mut Action, by: &str, incident: &Incident) {
        let Some(alerts) = self.alerts.upgrade() else {
            action.step(ActionState::Failed, by, "the alert pipeline has stopped");
            return;
        };
        let mut d = Detection::new(
            "watchpost.response.notify",
            "Incident needs attention",
            incident.severity.max(Severity::Medium),
            watchpost_incident::NOTICE_DETECTOR,
        );
        d.category = Some("incident".into());
        d.entity = Some(Entity::Incident { id: incident.id });
        d.summary = format!(
            "{}: {} (risk {}) — {}",
            action.origin, incident.title, incident.risk.score, incident.summary
        );
        d.evidence = serde_json::json!({
            "incident_id": incident.id, "risk": incident.risk, "entities": incident.entities,
            "action_id": action.id,
        });
        match alerts.raise(std::slice::from_ref(&d)).await {
            Ok(()) => {
                action.done_at = Some(Utc::now());
                action.result = Some(ActionResult {
                    ok: true,
                    message: format!("alert raised (detection {})", d.id),
                    undo: serde_json::Value::Null,
                });
                action.step(ActionState::Done, by, "alert raised through the pipeline");
            }
            Err(e) => {
                action.step(ActionState::Failed, by, format!("failed: {e}"));
            }
        }
    }

    /// An analyst approves a pending action: it is carried out (or queued) now.
    pub async fn approve(&self, id: Uuid, by: &str) -> Result<Action, ActionError> {
        let mut action = self.load(id).await?;
        if action.state != ActionState::Pending {
            return Err(ActionError::Conflict(format!(
                "action {id} is {}: only a pending action can be approved",
                action.state.as_str()
            )));
        }
        let incident = match action.incident_id {
            Some(i) => self.store.get_incident(i).await?,
            None => None,
        }
        .unwrap_or_else(|| Incident::new("(no incident)", Severity::Medium));
        action.history.push(watchpost_core::ActionStep {
            at: Utc::now(),
            by: by.to_string(),
            what: "approved".into(),
        });
        self.execute(&mut action, by, &incident).await;
        self.save(&action).await?;
        Ok(action)
    }

    /// An analyst turns a pending action down.
    pub async fn reject(&self, id: Uuid, by: &str, why: &str) -> Result<Action, ActionError> {
        let mut action = self.load(id).await?;
        if action.state != ActionState::Pending {
            return Err(ActionError::Conflict(format!(
                "action {id} is {}: only a pending action can be rejected",
                action.state.as_str()
            )));
        }
        action.step(ActionState::Rejected, by, format!("rejected: {why}"));
        self.save(&action).await?;
        Ok(action)
    }

    /// Takes a done action back: lifts its decision, or queues its undo for the agent.
    pub async fn undo(&self, id: Uuid, by: &str) -> Result<Action, ActionError> {
        let mut action = self.load(id).await?;
        let retry = action.state == ActionState::Failed && action.undoing;
        if action.state != ActionState::Done && !retry {
            return Err(ActionError::Conflict(format!(
                "action {id} is {}: only a done action can be undone",
                action.state.as_str()
            )));
        }
        self.take_back(&mut action, by).await?;
        self.save(&action).await?;
        Ok(action)
    }

    async fn take_back(&self, action: &mut Action, by: &str) -> Result<(), ActionError> {
        match action.kind {
            ActionKind::BlockAddress | ActionKind::SuspendAccount => {
                let decision = action
                    .result
                    .as_ref()
                    .and_then(|r| r.undo.get("decision"))
                    .and_then(serde_json::Value::as_i64);
                let Some(decision) = decision else {
                    return Err(ActionError::Conflict(
                        "the ban's decision is not recorded".into(),
                    ));
                };
                let lifted = self.store.lift_decision(decision, by, Utc::now()).await?;
                if let Some(lifted) = &lifted
                    && lifted.scope == DecisionScope::Ip
                    && let Ok(ip) = lifted.value.parse::<IpAddr>()
                {
                    self.web.blocklist().unblock(ip);
                }
                let mut what = match lifted {
                    Some(_) => format!("undone: decision {decision} lifted"),
                    None => format!("undone: decision {decision} had already ended"),
                };
                self.tell_reinstated(action, &mut what).await;
                action.step(ActionState::Undone, by, what);
            }
            ActionKind::QuarantineFile | ActionKind::LockAccount | ActionKind::IsolateHost => {
                action.undoing = true;
                let host = action.host().unwrap_or_default().to_string();
                action.step(
                    ActionState::Queued,
                    by,
                    format!("undo queued for the agent of {host}"),
                );
                self.queued.notify_waiters();
            }
            ActionKind::KillProcess => {
                return Err(ActionError::Conflict(
                    "a killed process cannot be brought back".into(),
                ));
            }
            ActionKind::Notify => {
                return Err(ActionError::Conflict(
                    "a notification cannot be taken back".into(),
                ));
            }
        }
        Ok(())
    }

    /// Undoes the actions whose time to live ended.
    async fn expire(&self, now: DateTime<Utc>) {
        let due = match self.store.expired_actions(now, 100).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "actions past their time to live could not be read");
                return;
            }
        };
        for mut action in due {
            let by = "watchpost (time to live)";
            let outcome = if matches!(
                action.kind,
                ActionKind::BlockAddress | ActionKind::SuspendAccount
            ) {
                // The decision ends by itself at the same time.
                let mut what = "ended with its decision".to_string();
                self.tell_reinstated(&action, &mut what).await;
                action.step(ActionState::Undone, by, what);
                Ok(())
            } else {
                self.take_back(&mut action, by).await
            };
            match outcome {
                Ok(()) => {
                    if let Err(e) = self.save(&action).await {
                        tracing::warn!(error = %e, action = %action.id, "an expired action could not be recorded");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, action = %action.id, "an expired action could not be undone");
                    action.step(ActionState::Failed, by, format!("undo failed: {e}"));
                    let _ = self.save(&action).await;
                }
            }
        }
    }

    /// Tells the applications an account is reinstated (for an account suspension),
    /// saying so in `what`.
    async fn tell_reinstated(&self, action: &Action, what: &mut String) {
        if let ActionTarget::AppAccount { user } = &action.target {
            let hooks = self.config.get().response.account_webhooks.clone();
            let told =
                crate::account_hooks::tell(&hooks, "account.reinstated", action, user, None).await;
            if !told.is_empty() {
                what.push_str(&format!("; applications told: {}", told.join(", ")));
            }
        }
    }

    /// The queued actions of `host`, now taken by its agent (`running`), oldest first.
    pub async fn take_for_agent(
        &self,
        host: &str,
        by: &str,
        limit: i64,
    ) -> Result<Vec<Action>, StoreError> {
        let of_host = |state| ActionQuery {
            state: Some(state),
            host: Some(host.to_string()),
            limit,
            oldest_first: true,
            ..ActionQuery::default()
        };
        let mut queued = self
            .store
            .query_actions(&of_host(ActionState::Queued))
            .await?;
        // An action taken by an agent that never reported (it died, or its report was
        // lost for good) is handed out again rather than left running forever.
        let stale = Utc::now() - UNREPORTED_AFTER;
        queued.extend(
            self.store
                .query_actions(&of_host(ActionState::Running))
                .await?
                .into_iter()
                .filter(|a| a.updated_at < stale),
        );
        queued.truncate(limit.max(0) as usize);
        let mut taken = Vec::with_capacity(queued.len());
        for mut action in queued {
            let what = match (action.state, action.undoing) {
                (ActionState::Running, _) => "taken again: no result came within 5 minutes",
                (_, true) => "undo taken",
                _ => "taken",
            };
            action.step(ActionState::Running, by, what);
            self.save(&action).await?;
            taken.push(action);
        }
        Ok(taken)
    }

    /// An agent's report on an action it took. Only the agent of the action's host may
    /// report, and only on an action it has taken.
    pub async fn report(
        &self,
        id: Uuid,
        host: &str,
        by: &str,
        mut result: ActionResult,
    ) -> Result<Action, ActionError> {
        let mut action = self.load(id).await?;
        if action.host() != Some(host) {
            // Another host's action: as if it did not exist.
            return Err(ActionError::NotFound(id));
        }
        if action.state != ActionState::Running {
            return Err(ActionError::Conflict(format!(
                "action {id} is {}: only a running action takes a report",
                action.state.as_str()
            )));
        }
        result.message = truncate(&result.message, MAX_MESSAGE_CHARS);
        let message = result.message.clone();
        match (action.undoing, result.ok) {
            (false, true) => {
                action.done_at = Some(Utc::now());
                action.undo = undo_text(&action);
                action.result = Some(result);
                action.step(ActionState::Done, by, message);
            }
            (false, false) => {
                action.result = Some(result);
                action.step(ActionState::Failed, by, format!("failed: {message}"));
            }
            (true, true) => {
                action.undoing = false;
                action.step(ActionState::Undone, by, format!("undone: {message}"));
            }
            (true, false) => {
                action.step(ActionState::Failed, by, format!("undo failed: {message}"));
            }
        }
        self.save(&action).await?;
        Ok(action)
    }

    async fn load(&self, id: Uuid) -> Result<Action, ActionError> {
        self.store
            .get_action(id)
            .await?
            .ok_or(ActionError::NotFound(id))
    }

    async fn save(&self, action: &Action) -> Result<(), StoreError> {
        self.store.upsert_action(action).await?;
        self.hub.publish("actions", action);
        tracing::info!(id = %action.id, kind = action.kind.as_str(), target = %action.target,
            state = action.state.as_str(), "response action");
        Ok(())
    }
}

/// What undoing a done host action does, for people.
fn undo_text(action: &Action) -> String {
    match (&action.kind, &action.target) {
        (ActionKind::QuarantineFile, ActionTarget::File { path, .. }) => {
            format!("restore {path} from quarantine")
        }
        (ActionKind::LockAccount, ActionTarget::Account { user, .. }) => {
            format!("unlock account {user}")
        }
        (ActionKind::IsolateHost, ActionTarget::Host { host }) => {
            format!("lift the network isolation of {host}")
        }
        (ActionKind::KillProcess, _) => "none: a killed process cannot be brought back".into(),
        _ => String::new(),
    }
}

/// What an action does, in a sentence.
fn describe(action: &Action, incident: &Incident) -> String {
    let ttl = if action.ttl_seconds > 0 {
        format!(
            " for {}",
            watchpost_core::duration::go(Duration::seconds(action.ttl_seconds as i64))
        )
    } else {
        String::new()
    };
    match &action.target {
        ActionTarget::Address { ip } => format!("ban {ip} at every proxy and bouncer{ttl}"),
        ActionTarget::Process { host, pid } => {
            format!("kill process {pid} and its descendants on {host}")
        }
        ActionTarget::File { host, path } => format!("quarantine {path} on {host}"),
        ActionTarget::Account { host, user } => format!("lock account {user} on {host}{ttl}"),
        ActionTarget::Host { host } => {
            format!("isolate {host} from the network, its link to this server kept{ttl}")
        }
        ActionTarget::AppAccount { user } => {
            format!("suspend account {user} in the applications{ttl}")
        }
        ActionTarget::Incident { .. } => {
            format!("raise an alert about incident \"{}\"", incident.title)
        }
    }
}

fn budget_of(response: &watchpost_config::ResponseConfig) -> Budget {
    let limits = response
        .budget_per_minute
        .iter()
        .filter_map(|(k, v)| Some((k.parse::<ActionKind>().ok()?, *v)))
        .collect();
    Budget::new(&limits, Duration::minutes(response.breaker_minutes as i64))
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What decisions may not cover here: the configured lists, this machine's addresses and
/// the addresses its senders last spoke from.
pub(crate) async fn decision_guards(
    store: &dyn Store,
    config: &ConfigHandle,
) -> Result<Guards, StoreError> {
    let config = config.get();
    let parse = |list: &[String]| list.iter().filter_map(|s| s.parse().ok()).collect();
    let mut own = watchpost_response::own_addresses::read();
    if let Ok(host) = config.api.host.parse::<IpAddr>()
        && !host.is_unspecified()
    {
        own.push(host);
    }
    let senders = store.list_senders().await?;
    own.extend(
        senders
            .iter()
            .filter(|s| s.revoked_at.is_none())
            .filter_map(|s| s.address.as_deref()?.parse::<IpAddr>().ok()),
    );
    Ok(Guards {
        allowlist: parse(&config.response.allowlist),
        protected: parse(&config.response.protected),
        own,
    })
}

/// Applies an address ban to this server's own web shield.
pub(crate) fn enforce_here(web: &watchpost_web::Shield, decision: &Decision) {
    let now = Utc::now();
    if !decision.active_at(now) || decision.scope != DecisionScope::Ip || decision.kind != "ban" {
        return;
    }
    if let (Ok(ip), Ok(ttl)) = (
        decision.value.parse::<IpAddr>(),
        (decision.until - now).to_std(),
    ) {
        web.blocklist().block(
            ip,
            ttl,
            &format!("decision {}: {}", decision.id, decision.reason),
        );
    }
}
