//! `RuntimeHandle` as the generated core service: every transport adapter
//! and the conformance suite drive the runtime through this one mapping.
//!
//! Ids in requests accept a vigy's id or its name, as the CLI does. Every
//! operation starts with the request's generated `validate()`: the limits
//! the spec states (counts, intervals, lengths) are checked there, and this
//! file keeps no copy of them.

use std::collections::BTreeMap;

use futures::StreamExt;
use vigy_api as api;
use vigy_api::{ServiceError, VigyService};
use vigy_types::{
    Condition, ConditionFilter, ConditionStatus, LabelSelector, Labels, ReconcileAction, Schedule, ScheduleSpec, Vigy,
    VigyName, VigyRun, VigyState,
};

use crate::{RuntimeError, RuntimeHandle, SimulatedTick};

/// The name a simulated program runs as when the request does not say.
const DEFAULT_SIMULATED_NAME: &str = "local";

impl From<RuntimeError> for ServiceError {
    fn from(error: RuntimeError) -> Self {
        match error {
            RuntimeError::Invalid(e) => Self::InvalidArgument(e.to_string()),
            RuntimeError::NotFound(what) => Self::NotFound(format!("no vigy `{what}`")),
            RuntimeError::Unavailable(why) => Self::Unavailable(why),
            RuntimeError::LeaseMoved(why) => Self::Unavailable(format!("lease moved: {why}")),
            // The store's detail stays in the server's log, under an id
            // the client is given (a time-ordered UUID, as run ids are).
            RuntimeError::Store(e) => {
                let id = uuid::Uuid::now_v7();
                tracing::error!(incident = %id, error = %e, "store failure behind a service call");
                Self::Internal(format!("internal error (id {id})"))
            }
        }
    }
}

fn invalid(e: vigy_types::VigyError) -> ServiceError {
    ServiceError::InvalidArgument(e.to_string())
}

#[async_trait::async_trait]
impl VigyService for RuntimeHandle {
    async fn register_vigy(&self, request: api::RegisterVigyRequest) -> Result<api::Vigy, ServiceError> {
        request.validate()?;
        let body = request.body;
        let schedule = ScheduleSpec {
            every_ms: body.tick_interval_ms,
            cron: body.cron,
            tz: body.tz,
            jitter_ms: body.jitter_ms.unwrap_or(0),
            starts_at: body.starts_at,
            ends_at: body.ends_at,
            catch_up_window_ms: body.catch_up_window_ms,
            backoff_base_ms: body.backoff_base_ms,
            backoff_cap_ms: body.backoff_cap_ms,
        }
        .build()
        .map_err(invalid)?;
        let labels = labels(body.labels.unwrap_or_default())?;
        let vigy = Vigy::scheduled(body.name, body.program, schedule)
            .map_err(invalid)?
            .with_labels(labels)
            .with_pause_after_failures(body.pause_after_failures);
        Ok(to_api_vigy(&self.register_or_update(vigy).await?))
    }

    async fn update_vigy(&self, request: api::UpdateVigyRequest) -> Result<api::Vigy, ServiceError> {
        request.validate()?;
        let id = self.entry(&request.id)?.vigy.id;
        let change = request.body;
        let labels = change.labels.clone().map(labels).transpose()?;
        let updated = self
            .update(id, |current| {
                let program = change.program.clone().unwrap_or_else(|| current.program.source().to_owned());
                let labels = labels.unwrap_or_else(|| current.labels.clone());
                let pause_after = change.pause_after_failures.or(current.pause_after_failures);
                Ok(Vigy::scheduled(current.name.as_str(), program, changed_schedule(&current.schedule, &change)?)?
                    .with_labels(labels)
                    .with_pause_after_failures(pause_after))
            })
            .await?;
        Ok(to_api_vigy(&updated))
    }

    async fn get_vigy(&self, request: api::GetVigyRequest) -> Result<api::Vigy, ServiceError> {
        request.validate()?;
        Ok(self.entry(&request.id)?.wire.clone())
    }

    async fn list_vigies(&self, request: api::ListVigiesRequest) -> Result<api::VigyList, ServiceError> {
        request.validate()?;
        let selector: LabelSelector = request.selector.as_deref().unwrap_or("").parse().map_err(invalid)?;
        let limit = request.limit_or_default() as usize;
        let after = request.cursor.as_deref().map(api::VigyList::cursor_key).transpose()?;
        let conditions = condition_filters(request.condition.as_deref())?;
        // One more than the page, to tell whether another follows.
        let items = if conditions.is_empty() {
            self.entries_page(&selector, after.as_deref(), limit + 1).iter().map(|entry| entry.wire.clone()).collect()
        } else {
            let after = after.as_deref();
            let matching = self.list_where(&selector, &conditions).await?;
            let following = matching.iter().filter(|v| after.is_none_or(|after| v.name.as_str() > after));
            following.take(limit + 1).map(to_api_vigy).collect()
        };
        let (items, next_cursor) = split_page(items, limit, api::VigyList::cursor_of);
        Ok(api::VigyList { items, next_cursor })
    }

    async fn enable_vigy(&self, request: api::EnableVigyRequest) -> Result<api::Vigy, ServiceError> {
        request.validate()?;
        let id = self.resolve(&request.id).await?.id;
        Ok(to_api_vigy(&self.enable(id).await?))
    }

    async fn disable_vigy(&self, request: api::DisableVigyRequest) -> Result<api::Vigy, ServiceError> {
        request.validate()?;
        let id = self.resolve(&request.id).await?.id;
        Ok(to_api_vigy(&self.disable(id).await?))
    }

    async fn pause_vigy(&self, request: api::PauseVigyRequest) -> Result<api::Vigy, ServiceError> {
        request.validate()?;
        let id = self.resolve(&request.id).await?.id;
        Ok(to_api_vigy(&self.pause(id, request.body.reason).await?))
    }

    async fn resume_vigy(&self, request: api::ResumeVigyRequest) -> Result<api::Vigy, ServiceError> {
        request.validate()?;
        let id = self.resolve(&request.id).await?.id;
        Ok(to_api_vigy(&self.resume(id).await?))
    }

    async fn delete_vigy(&self, request: api::DeleteVigyRequest) -> Result<api::Vigy, ServiceError> {
        request.validate()?;
        let vigy = self.resolve(&request.id).await?;
        self.delete(vigy.id).await?;
        Ok(to_api_vigy(&vigy))
    }

    async fn get_vigy_state(&self, request: api::GetVigyStateRequest) -> Result<api::VigyState, ServiceError> {
        request.validate()?;
        let vigy = self.resolve(&request.id).await?;
        let stored = self.state(vigy.id).await?;
        let mut state = to_api_state(&stored);
        if let Some(lease) = self.lease(vigy.id).await? {
            with_owner(&mut state, lease);
        }
        with_schedule(&mut state, &vigy, last_tick(&stored), self);
        Ok(state)
    }

    /// Four queries for all of them (reports, newest runs, conditions,
    /// leases).
    async fn get_vigy_state_many(
        &self,
        requests: Vec<api::GetVigyStateRequest>,
    ) -> Vec<Result<api::VigyState, ServiceError>> {
        let resolved: Vec<Result<Vigy, ServiceError>> =
            requests.iter().map(|r| batched_entry(self, r.validate(), &r.id).map(|entry| entry.vigy.clone())).collect();
        let vigies: Vec<Vigy> = resolved.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
        let ids: Vec<_> = vigies.iter().map(|v| v.id).collect();
        let (mut states, mut leases) = match (self.states_of(&vigies).await, self.leases_of(&ids).await) {
            (Ok(states), Ok(leases)) => (states, leases),
            (Err(e), _) | (_, Err(e)) => return vec![Err(e.into()); requests.len()],
        };
        resolved
            .into_iter()
            .map(|vigy| {
                let vigy = vigy?;
                let stored =
                    states.remove(&vigy.id).ok_or_else(|| ServiceError::Internal("a state went missing".into()))?;
                let mut state = to_api_state(&stored);
                if let Some(lease) = leases.remove(&vigy.id) {
                    with_owner(&mut state, lease);
                }
                with_schedule(&mut state, &vigy, last_tick(&stored), self);
                Ok(state)
            })
            .collect()
    }

    async fn tick_vigy(&self, request: api::TickVigyRequest) -> Result<api::VigyRun, ServiceError> {
        request.validate()?;
        let id = self.resolve(&request.id).await?.id;
        Ok(to_api_run(&self.tick_now(id).await?))
    }

    async fn list_vigy_runs(&self, request: api::ListVigyRunsRequest) -> Result<api::VigyRunList, ServiceError> {
        request.validate()?;
        let limit = request.limit_or_default();
        let after = request.cursor.as_deref().map(api::VigyRunList::cursor_key).transpose()?;
        let id = self.resolve(&request.id).await?.id;
        Ok(to_api_runs(self.runs_page(id, after.as_deref(), u64::from(limit)).await?))
    }

    /// The requests without a cursor are answered by one query for each
    /// page size asked (a dashboard asks one); those with one, one each.
    async fn list_vigy_runs_many(
        &self,
        requests: Vec<api::ListVigyRunsRequest>,
    ) -> Vec<Result<api::VigyRunList, ServiceError>> {
        let mut answers: Vec<Option<Result<api::VigyRunList, ServiceError>>> = vec![None; requests.len()];
        let mut firsts: BTreeMap<u32, Vec<(usize, vigy_types::VigyId)>> = BTreeMap::new();
        for (at, request) in requests.iter().enumerate() {
            let resolved = batched_entry(self, request.validate(), &request.id).map(|entry| entry.vigy.id);
            match resolved {
                Err(e) => answers[at] = Some(Err(e)),
                Ok(id) if request.cursor.is_none() => {
                    firsts.entry(request.limit_or_default()).or_default().push((at, id))
                }
                Ok(_) => answers[at] = Some(self.list_vigy_runs(request.clone()).await),
            }
        }
        for (limit, wanted) in firsts {
            let ids: Vec<_> = wanted.iter().map(|(_, id)| *id).collect();
            match self.newest_runs(&ids, u64::from(limit)).await {
                Ok(mut pages) => {
                    for (at, id) in wanted {
                        let page = pages.remove(&id).unwrap_or(vigy_store::RunPage { runs: Vec::new(), more: false });
                        answers[at] = Some(Ok(to_api_runs(page)));
                    }
                }
                Err(e) => {
                    let e = ServiceError::from(e);
                    for (at, _) in wanted {
                        answers[at] = Some(Err(e.clone()));
                    }
                }
            }
        }
        answers.into_iter().map(|a| a.unwrap_or_else(|| Err(ServiceError::Internal("unanswered".into())))).collect()
    }

    async fn get_vigy_kv(&self, request: api::GetVigyKvRequest) -> Result<api::VigyKv, ServiceError> {
        request.validate()?;
        let id = self.resolve(&request.id).await?.id;
        Ok(api::VigyKv { vigy_id: id.to_string(), entries: self.kv(id).await?.into_iter().collect() })
    }

    /// One query for all of them.
    async fn get_vigy_kv_many(&self, requests: Vec<api::GetVigyKvRequest>) -> Vec<Result<api::VigyKv, ServiceError>> {
        let resolved: Vec<Result<vigy_types::VigyId, ServiceError>> =
            requests.iter().map(|r| batched_entry(self, r.validate(), &r.id).map(|entry| entry.vigy.id)).collect();
        let ids: Vec<_> = resolved.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
        let mut stores = match self.kv_stores(&ids).await {
            Ok(stores) => stores,
            Err(e) => return vec![Err(e.into()); requests.len()],
        };
        resolved
            .into_iter()
            .map(|id| {
                let id = id?;
                let entries = stores.remove(&id).unwrap_or_default().into_iter().collect();
                Ok(api::VigyKv { vigy_id: id.to_string(), entries })
            })
            .collect()
    }

    async fn check_program(&self, request: api::CheckProgramRequest) -> Result<api::ProgramCheck, ServiceError> {
        request.validate()?;
        Ok(match self.check(request.body.program) {
            Ok(_) => api::ProgramCheck { ok: true, message: None, line: None, column: None, excerpt: None },
            Err(e) => api::ProgramCheck {
                ok: false,
                message: Some(e.message),
                line: Some(u32::try_from(e.line).unwrap_or(u32::MAX)),
                column: Some(u32::try_from(e.column).unwrap_or(u32::MAX)),
                excerpt: Some(e.excerpt),
            },
        })
    }

    async fn simulate_program(&self, request: api::SimulateProgramRequest) -> Result<api::Simulation, ServiceError> {
        request.validate()?;
        let body = request.body;
        let name = VigyName::new(body.name.unwrap_or_else(|| DEFAULT_SIMULATED_NAME.to_owned())).map_err(invalid)?;
        let program = self.check(body.program).map_err(|e| invalid(e.into()))?;
        let ticks = self.simulate(&program, &name, body.ticks.unwrap_or(1)).await?;
        Ok(api::Simulation { ticks: ticks.iter().map(to_api_simulated_tick).collect() })
    }

    async fn stream_events(
        &self,
        request: api::StreamEventsRequest,
    ) -> Result<api::EventStream<api::VigyRun>, ServiceError> {
        request.validate()?;
        let only = match &request.vigy_id {
            Some(id) => Some(self.resolve(id).await?.id),
            None => None,
        };
        let runs = self.subscribe().filter_map(move |item| {
            let event = match item {
                Ok(run) if only.is_none_or(|id| id == run.vigy_id) => Some(Ok(to_api_run(&run))),
                Ok(_) => None,
                Err(missed) => Some(Err(ServiceError::Unavailable(missed.to_string()))),
            };
            std::future::ready(event)
        });
        Ok(runs.boxed())
    }
}

/// `Ready=false,Synced=true` (blank: no filter), each part read by
/// `ConditionFilter`; a bad one is refused as any bad argument is.
fn condition_filters(list: Option<&str>) -> Result<Vec<ConditionFilter>, ServiceError> {
    match list.map(str::trim) {
        None | Some("") => Ok(Vec::new()),
        Some(list) => list.split(',').map(|part| part.trim().parse().map_err(invalid)).collect(),
    }
}

fn labels(map: BTreeMap<String, String>) -> Result<Labels, ServiceError> {
    Labels::try_from(map).map_err(invalid)
}

/// `current` with what `change` sets: an interval replaces a cron pattern
/// and the other way round (both at once is refused), the rest field by
/// field.
fn changed_schedule(current: &Schedule, change: &api::UpdateVigy) -> Result<Schedule, vigy_types::VigyError> {
    let was = ScheduleSpec::from(current);
    let to_interval = change.tick_interval_ms.is_some();
    let to_cron = change.cron.is_some();
    let still_cron = !to_interval && was.cron.is_some();
    ScheduleSpec {
        every_ms: change.tick_interval_ms.or(was.every_ms.filter(|_| !to_cron)),
        cron: change.cron.clone().or(was.cron.filter(|_| !to_interval)),
        tz: change.tz.clone().or(was.tz.filter(|_| still_cron || to_cron)),
        jitter_ms: change.jitter_ms.unwrap_or(was.jitter_ms),
        starts_at: change.starts_at.or(was.starts_at),
        ends_at: change.ends_at.or(was.ends_at),
        catch_up_window_ms: change.catch_up_window_ms.or(was.catch_up_window_ms),
        backoff_base_ms: change.backoff_base_ms.or(was.backoff_base_ms),
        backoff_cap_ms: change.backoff_cap_ms.or(was.backoff_cap_ms),
    }
    .build()
}

/// A domain vigy on the wire.
pub fn to_api_vigy(v: &Vigy) -> api::Vigy {
    let schedule = ScheduleSpec::from(&v.schedule);
    api::Vigy {
        id: v.id.to_string(),
        name: v.name.to_string(),
        program: v.program.source().to_owned(),
        tick_interval_ms: schedule.every_ms,
        cron: schedule.cron,
        tz: schedule.tz,
        jitter_ms: schedule.jitter_ms,
        starts_at: schedule.starts_at,
        ends_at: schedule.ends_at,
        catch_up_window_ms: schedule.catch_up_window_ms,
        pause_after_failures: v.pause_after_failures,
        backoff_base_ms: schedule.backoff_base_ms,
        backoff_cap_ms: schedule.backoff_cap_ms,
        paused_reason: v.paused.as_ref().map(|p| p.reason.clone()),
        paused_at: v.paused.as_ref().map(|p| p.at),
        enabled: v.enabled,
        labels: v.labels.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        created_at: v.created_at,
        updated_at: v.updated_at,
        disabled_reason: v.disabled_reason.clone(),
    }
}

fn to_api_action(a: &ReconcileAction) -> api::ReconcileAction {
    api::ReconcileAction {
        kind: a.kind.to_string(),
        payload: (!a.payload.is_null()).then(|| a.payload.clone()),
        result: match a.result {
            vigy_types::ActionResult::Pending => api::ActionResult::Pending,
            vigy_types::ActionResult::Ok => api::ActionResult::Ok,
            vigy_types::ActionResult::Failed => api::ActionResult::Failed,
            vigy_types::ActionResult::Skipped => api::ActionResult::Skipped,
        },
        message: a.message.clone(),
        output: a.output.clone(),
        attempts: a.attempts,
        started_at: a.started_at,
        ended_at: a.ended_at,
    }
}

fn to_api_condition(c: &Condition) -> api::Condition {
    api::Condition {
        r#type: c.kind.clone(),
        status: to_api_condition_status(c.status),
        reason: c.reason.clone(),
        message: c.message.clone(),
        last_transition_time: c.last_transition_time,
    }
}

/// A domain run on the wire.
pub fn to_api_run(r: &VigyRun) -> api::VigyRun {
    api::VigyRun {
        id: r.id.clone(),
        vigy_id: r.vigy_id.to_string(),
        tick: r.tick,
        started_at: r.started_at,
        ended_at: r.ended_at,
        result: match r.result {
            vigy_types::RunResult::Ok => api::RunResult::Ok,
            vigy_types::RunResult::Failed => api::RunResult::Failed,
            vigy_types::RunResult::Skipped => api::RunResult::Skipped,
        },
        error: r.error.clone(),
        actions: r.actions.iter().map(to_api_action).collect(),
        logs: r.logs.iter().map(|l| api::LogLine { level: l.level.clone(), message: l.message.clone() }).collect(),
        logs_truncated: r.logs_truncated,
    }
}

fn to_api_simulated_tick(t: &SimulatedTick) -> api::SimulatedTick {
    let o = &t.outcome;
    api::SimulatedTick {
        tick: t.tick,
        result: if o.result.is_ok() { api::RunResult::Ok } else { api::RunResult::Failed },
        error: o.result.as_ref().err().map(ToString::to_string),
        actions: o.actions.iter().map(to_api_action).collect(),
        logs: o.logs.iter().map(|l| api::LogLine { level: l.level.clone(), message: l.message.clone() }).collect(),
        logs_truncated: o.logs_truncated,
        desired: o.desired.clone(),
        observed: o.observed.clone(),
        conditions: o
            .conditions
            .iter()
            .map(|c| api::ConditionUpdate {
                r#type: c.kind.clone(),
                status: to_api_condition_status(c.status),
                reason: c.reason.clone(),
                message: c.message.clone(),
            })
            .collect(),
        kv: t.kv.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

fn to_api_condition_status(status: ConditionStatus) -> api::ConditionStatus {
    match status {
        ConditionStatus::True => api::ConditionStatus::True,
        ConditionStatus::False => api::ConditionStatus::False,
        ConditionStatus::Unknown => api::ConditionStatus::Unknown,
    }
}

fn to_api_state(s: &VigyState) -> api::VigyState {
    api::VigyState {
        vigy_id: s.vigy_id.to_string(),
        desired: s.desired.clone(),
        observed: s.observed.clone(),
        pending: s.pending.iter().map(to_api_action).collect(),
        conditions: s.conditions.iter().map(to_api_condition).collect(),
        tick_count: s.tick_count,
        captured_at: s.captured_at,
        owner: None,
        lease_expires_at: None,
        next_ticks: Vec::new(),
        missed_ticks: None,
        consecutive_failures: None,
    }
}

/// When the vigy last ticked, if it has.
fn last_tick(state: &VigyState) -> Option<vigy_types::Timestamp> {
    (state.tick_count > 0).then_some(state.captured_at)
}

/// How many due times `next_ticks` shows.
const NEXT_TICKS: usize = 5;

/// When `vigy` ticks next, as `state` and this runtime see it: from its
/// planned due time if it is scheduled here (after any backoff), else from
/// its schedule and last tick; nothing while it will not tick (`owned`:
/// some runtime holds its lease).
fn with_schedule(state: &mut api::VigyState, vigy: &Vigy, last: Option<vigy_types::Timestamp>, rt: &RuntimeHandle) {
    let standing = rt.standing(vigy.id);
    state.missed_ticks = standing.map(|s| s.missed);
    state.consecutive_failures = standing.map(|s| s.failures);
    if !vigy.runs() || state.owner.is_none() {
        return;
    }
    let schedule = &vigy.schedule;
    let first = standing
        .and_then(|s| s.next_due)
        .or_else(|| schedule.upcoming(vigy.id, last, rt.clock().now(), 1).first().copied());
    state.next_ticks = std::iter::successors(first, |at| schedule.next_due(vigy.id, *at)).take(NEXT_TICKS).collect();
}

/// The catalog entry one request of a batch names, if the request is valid
/// (a batch reads its vigies from the catalog, then the store once for all).
fn batched_entry(
    rt: &RuntimeHandle,
    valid: Result<(), ServiceError>,
    id_or_name: &str,
) -> Result<std::sync::Arc<crate::catalog::Entry>, ServiceError> {
    valid?;
    Ok(rt.entry(id_or_name)?)
}

/// Who ticks the vigy, and until when, as the state reports it.
fn with_owner(state: &mut api::VigyState, lease: vigy_store::Lease) {
    state.lease_expires_at = chrono::DateTime::from_timestamp_millis(lease.expires_ms);
    state.owner = Some(match &lease.owner_host {
        Some((host, pid)) => format!("{} on {host} (pid {pid})", lease.owner),
        None => lease.owner,
    });
}

/// The first `limit` of `items`, fetched one past the page to tell whether
/// another follows, and the cursor after the last when one does.
fn split_page<T>(mut items: Vec<T>, limit: usize, cursor_of: fn(&T) -> String) -> (Vec<T>, Option<String>) {
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = if more { items.last().map(cursor_of) } else { None };
    (items, next_cursor)
}

fn to_api_runs(page: vigy_store::RunPage) -> api::VigyRunList {
    let items: Vec<api::VigyRun> = page.runs.iter().map(to_api_run).collect();
    let next_cursor = if page.more { items.last().map(api::VigyRunList::cursor_of) } else { None };
    api::VigyRunList { items, next_cursor }
}
