//! `/v1/plans`, `/v1/goals`, `/v1/activities`.

use super::{ActivityCreated, ActivityList, GoalCreated, GoalList, PlanCreated, PlanList};
use crate::auth::Auth;
use crate::error::{ApiError, ListProblems, ReadProblems, WriteProblems};
use crate::extract::{
    created, path_id, query_text, query_time, with_etag, with_tag_json, IfMatch, JsonBody, PageQuery,
};
use crate::routes::events::{EventList, LogPageQuery};
use crate::state::AppState;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use planledger_domain::activity::{Activity, ActivityPatch, ActivityStatus, NewActivity};
use planledger_domain::goal::{GoalPatch, GoalView, NewGoal};
use planledger_domain::ids::{ActivityId, GoalId, OrganizationId, PlanId};
use planledger_domain::plan::{
    ChangelogEntry, NewPlan, PlanDetail, PlanPatch, PlanStatus, PlanView, TransitionRequest,
};
use planledger_persistence::{ActivityFilter, PlanFilter};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlanQuery {
    /// Only plans of this organization.
    #[param(format = "uuid")]
    pub organization_id: Option<String>,
    pub status: Option<PlanStatus>,
    /// Text in the title, diary number or summary, case-insensitive.
    pub q: Option<String>,
    /// A year the plan's period covers, e.g. `2016`.
    #[param(value_type = Option<i32>, minimum = 1000, maximum = 9999)]
    pub period: Option<String>,
    /// Only plans changed at or after this instant.
    pub updated_since: Option<DateTime<Utc>>,
}

impl PlanQuery {
    fn filter(self) -> Result<PlanFilter, ApiError> {
        let organization_id = self
            .organization_id
            .as_deref()
            .map(|id| {
                OrganizationId::parse(id)
                    .ok_or_else(|| ApiError::bad_request("organization_id must be an organization id"))
            })
            .transpose()?;
        let period = self
            .period
            .as_deref()
            .map(|year| match year.parse::<i32>() {
                Ok(year) if (1000..=9999).contains(&year) => Ok(year),
                _ => Err(ApiError::bad_request(format!("period must be a year, got {year:?}"))),
            })
            .transpose()?;
        Ok(PlanFilter {
            organization_id,
            status: self.status,
            q: query_text("q", self.q)?,
            period,
            updated_since: query_time("updated_since", self.updated_since)?,
        })
    }
}

/// Plans the caller may see: in its scope, and public material.
#[utoipa::path(
    operation_id = "list_plans",
    tag = "plans",
    params(PlanQuery, PageQuery),
    security((), ("bearer" = [])),
    responses((status = 200, description = "A page of plans, each with its progress", body = PlanList), ListProblems)
)]
#[get("/v1/plans")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    query: web::Query<PlanQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<PlanList>, ApiError> {
    let caller = state.caller(auth);
    let page = page.page()?;
    let filter = query.into_inner().filter()?;
    let list = state.run(move |store| store.plans(&caller, &filter, &page)).await?;
    Ok(web::Json(list.into()))
}

/// Creates a plan, as a `draft` (editor in the organization's scope).
#[utoipa::path(
    operation_id = "create_plan",
    tag = "plans",
    request_body = NewPlan,
    security(("bearer" = [])),
    responses(PlanCreated, WriteProblems)
)]
#[post("/v1/plans")]
pub async fn create(state: web::Data<AppState>, auth: Auth, body: JsonBody<NewPlan>) -> Result<HttpResponse, ApiError> {
    let caller = state.caller(auth);
    let view = state.run(move |store| store.create_plan(&caller, body.0)).await?;
    Ok(created(
        format!("/v1/plans/{}", view.plan.id),
        view.plan.revision,
        &view,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOfQuery {
    /// Show the plan with its goals and activities as they stood at this instant, rebuilt from the event log.
    pub as_of: Option<DateTime<Utc>>,
}

/// One plan with its progress, its goals and their activities; with `as_of`, as it stood then.
#[utoipa::path(
    operation_id = "get_plan",
    tag = "plans",
    params(("id" = String, Path, format = "uuid"), AsOfQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The plan. Its ETag, `\"<revision>.<seq>\"`, also moves when a goal or activity changes; `If-Match` compares the revision part", body = PlanDetail, headers(("ETag" = String))),
        (status = 304, description = "Not modified: `If-None-Match` names the current ETag"),
        ReadProblems,
    )
)]
#[get("/v1/plans/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    query: web::Query<AsOfQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, PlanId::parse, "plan")?;
    let caller = state.caller(auth);
    match query_time("as_of", query.as_of)? {
        Some(as_of) => {
            let detail = state.run(move |store| store.plan_as_of(&caller, &id, as_of)).await?;
            Ok(HttpResponse::Ok().json(detail))
        }
        None => {
            let plan = state.run(move |store| store.plan_document(&caller, &id)).await?;
            // The plan's revision, and the last event under it: goals and activities are part of this answer.
            let tag = format!("\"{}.{}\"", plan.revision, plan.last_seq);
            Ok(with_tag_json(tag, plan.body))
        }
    }
}

/// Changes a plan's fields (editor). The status moves only through transitions.
#[utoipa::path(
    operation_id = "update_plan",
    tag = "plans",
    params(("id" = String, Path, format = "uuid"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    request_body = PlanPatch,
    security(("bearer" = [])),
    responses((status = 200, description = "The changed plan", body = PlanView, headers(("ETag" = String))), WriteProblems)
)]
#[patch("/v1/plans/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: JsonBody<PlanPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, PlanId::parse, "plan")?;
    let caller = state.caller(auth);
    let view = state
        .run(move |store| store.update_plan(&caller, &id, body.0, if_match.0))
        .await?;
    Ok(with_etag(view.plan.revision, &view))
}

/// Moves a plan to another status, as the transition table allows (approver; withdrawing a draft: editor).
#[utoipa::path(
    operation_id = "transition_plan",
    tag = "plans",
    params(("id" = String, Path, format = "uuid"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    request_body = TransitionRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The plan in its new status", body = PlanView, headers(("ETag" = String))),
        WriteProblems,
    )
)]
#[post("/v1/plans/{id}/transitions")]
pub async fn transition(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: JsonBody<TransitionRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, PlanId::parse, "plan")?;
    let caller = state.caller(auth);
    let view = state
        .run(move |store| store.transition_plan(&caller, &id, &body.0, if_match.0))
        .await?;
    Ok(with_etag(view.plan.revision, &view))
}

/// The plan's change log (ändringsförteckning), oldest first.
#[utoipa::path(
    operation_id = "get_plan_changelog",
    tag = "plans",
    params(("id" = String, Path, format = "uuid")),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The change log", body = Vec<ChangelogEntry>), ReadProblems)
)]
#[get("/v1/plans/{id}/changelog")]
pub async fn changelog(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<web::Json<Vec<ChangelogEntry>>, ApiError> {
    let id = path_id(&id, PlanId::parse, "plan")?;
    let caller = state.caller(auth);
    Ok(web::Json(
        state.run(move |store| store.plan_changelog(&caller, &id)).await?,
    ))
}

/// The events of the plan and of everything under it (goals, activities), oldest first.
#[utoipa::path(
    operation_id = "get_plan_history",
    tag = "plans",
    params(("id" = String, Path, format = "uuid"), LogPageQuery),
    security((), ("bearer" = [])),
    responses((status = 200, description = "A page of the plan's events", body = EventList), ReadProblems)
)]
#[get("/v1/plans/{id}/history")]
pub async fn history(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    page: web::Query<LogPageQuery>,
) -> Result<web::Json<EventList>, ApiError> {
    let id = path_id(&id, PlanId::parse, "plan")?;
    let (after, limit) = page.bounds()?;
    let caller = state.caller(auth);
    let page = state
        .run(move |store| store.plan_history(&caller, &id, after, limit))
        .await?;
    Ok(web::Json(page.into()))
}

/// The plan's goals in document order, each with its progress.
#[utoipa::path(
    operation_id = "list_goals",
    tag = "goals",
    params(("id" = String, Path, format = "uuid"), PageQuery),
    security((), ("bearer" = [])),
    responses((status = 200, description = "A page of goals", body = GoalList), ListProblems)
)]
#[get("/v1/plans/{id}/goals")]
pub async fn list_goals(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<GoalList>, ApiError> {
    let id = path_id(&id, PlanId::parse, "plan")?;
    let page = page.page()?;
    let caller = state.caller(auth);
    Ok(web::Json(
        state.run(move |store| store.goals(&caller, &id, &page)).await?.into(),
    ))
}

/// Adds a goal to a plan (editor).
#[utoipa::path(
    operation_id = "create_goal",
    tag = "goals",
    params(("id" = String, Path, format = "uuid")),
    request_body = NewGoal,
    security(("bearer" = [])),
    responses(GoalCreated, WriteProblems)
)]
#[post("/v1/plans/{id}/goals")]
pub async fn create_goal(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: JsonBody<NewGoal>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, PlanId::parse, "plan")?;
    let caller = state.caller(auth);
    let view = state.run(move |store| store.create_goal(&caller, &id, body.0)).await?;
    Ok(created(
        format!("/v1/goals/{}", view.goal.id),
        view.goal.revision,
        &view,
    ))
}

/// One goal with its progress.
#[utoipa::path(
    operation_id = "get_goal",
    tag = "goals",
    params(("id" = String, Path, format = "uuid")),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The goal", body = GoalView, headers(("ETag" = String))), ReadProblems)
)]
#[get("/v1/goals/{id}")]
pub async fn get_goal(state: web::Data<AppState>, auth: Auth, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, GoalId::parse, "goal")?;
    let caller = state.caller(auth);
    let view = state.run(move |store| store.goal(&caller, &id)).await?;
    Ok(with_etag(view.goal.revision, &view))
}

/// Changes a goal (editor); a `status` in the body is a status change.
#[utoipa::path(
    operation_id = "update_goal",
    tag = "goals",
    params(("id" = String, Path, format = "uuid"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    request_body = GoalPatch,
    security(("bearer" = [])),
    responses((status = 200, description = "The changed goal", body = GoalView, headers(("ETag" = String))), WriteProblems)
)]
#[patch("/v1/goals/{id}")]
pub async fn update_goal(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: JsonBody<GoalPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, GoalId::parse, "goal")?;
    let caller = state.caller(auth);
    let view = state
        .run(move |store| store.update_goal(&caller, &id, body.0, if_match.0))
        .await?;
    Ok(with_etag(view.goal.revision, &view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    pub status: Option<ActivityStatus>,
}

/// The goal's activities in document order.
#[utoipa::path(
    operation_id = "list_activities",
    tag = "activities",
    params(("id" = String, Path, format = "uuid"), ActivityQuery, PageQuery),
    security((), ("bearer" = [])),
    responses((status = 200, description = "A page of activities", body = ActivityList), ListProblems)
)]
#[get("/v1/goals/{id}/activities")]
pub async fn list_activities(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    query: web::Query<ActivityQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<ActivityList>, ApiError> {
    let id = path_id(&id, GoalId::parse, "goal")?;
    let page = page.page()?;
    let filter = ActivityFilter { status: query.status };
    let caller = state.caller(auth);
    Ok(web::Json(
        state
            .run(move |store| store.activities(&caller, &id, &filter, &page))
            .await?
            .into(),
    ))
}

/// Adds an activity to a goal (editor).
#[utoipa::path(
    operation_id = "create_activity",
    tag = "activities",
    params(("id" = String, Path, format = "uuid")),
    request_body = NewActivity,
    security(("bearer" = [])),
    responses(ActivityCreated, WriteProblems)
)]
#[post("/v1/goals/{id}/activities")]
pub async fn create_activity(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: JsonBody<NewActivity>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, GoalId::parse, "goal")?;
    let caller = state.caller(auth);
    let activity = state
        .run(move |store| store.create_activity(&caller, &id, body.0))
        .await?;
    Ok(created(
        format!("/v1/activities/{}", activity.id),
        activity.revision,
        &activity,
    ))
}

/// One activity.
#[utoipa::path(
    operation_id = "get_activity",
    tag = "activities",
    params(("id" = String, Path, format = "uuid")),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The activity", body = Activity, headers(("ETag" = String))), ReadProblems)
)]
#[get("/v1/activities/{id}")]
pub async fn get_activity(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, ActivityId::parse, "activity")?;
    let caller = state.caller(auth);
    let activity = state.run(move |store| store.activity(&caller, &id)).await?;
    Ok(with_etag(activity.revision, &activity))
}

/// Changes an activity (editor); a `status` in the body is a status change.
#[utoipa::path(
    operation_id = "update_activity",
    tag = "activities",
    params(("id" = String, Path, format = "uuid"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    request_body = ActivityPatch,
    security(("bearer" = [])),
    responses((status = 200, description = "The changed activity", body = Activity, headers(("ETag" = String))), WriteProblems)
)]
#[patch("/v1/activities/{id}")]
pub async fn update_activity(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: JsonBody<ActivityPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, ActivityId::parse, "activity")?;
    let caller = state.caller(auth);
    let activity = state
        .run(move |store| store.update_activity(&caller, &id, body.0, if_match.0))
        .await?;
    Ok(with_etag(activity.revision, &activity))
}
