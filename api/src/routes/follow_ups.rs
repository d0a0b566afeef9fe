//! `/v1/plans/{id}/follow-ups`, `/v1/follow-ups`.

use crate::auth::Auth;
use crate::error::{ApiError, ListProblems, ReadProblems, WriteProblems};
use crate::extract::{created, path_id, query_text, with_etag, IfMatch, JsonBody, PageQuery};
use crate::state::AppState;
use actix_web::{get, patch, post, web, HttpResponse};
use planledger_domain::follow_up::{
    FollowUp, FollowUpId, FollowUpKind, FollowUpPatch, FollowUpStatus, FollowUpTransition, NewFollowUp,
};
use planledger_domain::ids::PlanId;
use planledger_persistence::{FollowUpFilter, Page};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

list_type!(
    /// A page of follow-up reports.
    FollowUpList,
    FollowUp
);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FollowUpQuery {
    pub status: Option<FollowUpStatus>,
    pub kind: Option<FollowUpKind>,
    /// The period reported on, e.g. `2015`.
    pub period: Option<String>,
}

/// A plan's follow-up reports, oldest first. Without a token (or outside the
/// plan's scope) only the approved reports of a public plan are listed.
#[utoipa::path(
    operation_id = "list_follow_ups",
    tag = "follow-ups",
    params(("id" = String, Path, format = "uuid"), FollowUpQuery, PageQuery),
    security((), ("bearer" = [])),
    responses((status = 200, description = "A page of follow-up reports", body = FollowUpList), ListProblems)
)]
#[get("/v1/plans/{id}/follow-ups")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    query: web::Query<FollowUpQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<FollowUpList>, ApiError> {
    let id = path_id(&id, PlanId::parse, "plan")?;
    let page = page.page()?;
    let query = query.into_inner();
    let filter = FollowUpFilter {
        status: query.status,
        kind: query.kind,
        period: query_text("period", query.period)?,
    };
    let caller = state.caller(auth);
    let list = state
        .run(move |store| store.follow_ups(&caller, &id, &filter, &page))
        .await?;
    Ok(web::Json(list.into()))
}

/// Writes a follow-up report for a plan, as a `draft` (editor). One report
/// not yet approved per plan, period and kind.
#[utoipa::path(
    operation_id = "create_follow_up",
    tag = "follow-ups",
    params(("id" = String, Path, format = "uuid")),
    request_body = NewFollowUp,
    security(("bearer" = [])),
    responses((status = 201, description = "Created", body = FollowUp, headers(("ETag" = String), ("Location" = String))), WriteProblems)
)]
#[post("/v1/plans/{id}/follow-ups")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: JsonBody<NewFollowUp>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, PlanId::parse, "plan")?;
    let caller = state.caller(auth);
    let report = state
        .run(move |store| store.create_follow_up(&caller, &id, body.0))
        .await?;
    Ok(created(
        format!("/v1/follow-ups/{}", report.id),
        report.revision,
        &report,
    ))
}

/// One follow-up report. Without a token only approved reports of public plans are found.
#[utoipa::path(
    operation_id = "get_follow_up",
    tag = "follow-ups",
    params(("id" = String, Path, format = "uuid")),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The report", body = FollowUp, headers(("ETag" = String))), ReadProblems)
)]
#[get("/v1/follow-ups/{id}")]
pub async fn get(state: web::Data<AppState>, auth: Auth, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, FollowUpId::parse, "follow-up")?;
    let caller = state.caller(auth);
    let report = state.run(move |store| store.follow_up(&caller, &id)).await?;
    Ok(with_etag(report.revision, &report))
}

/// Changes a draft report (editor); a report in any other status is 409.
#[utoipa::path(
    operation_id = "update_follow_up",
    tag = "follow-ups",
    params(("id" = String, Path, format = "uuid"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    request_body = FollowUpPatch,
    security(("bearer" = [])),
    responses((status = 200, description = "The changed report", body = FollowUp, headers(("ETag" = String))), WriteProblems)
)]
#[patch("/v1/follow-ups/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: JsonBody<FollowUpPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, FollowUpId::parse, "follow-up")?;
    let caller = state.caller(auth);
    let report = state
        .run(move |store| store.update_follow_up(&caller, &id, body.0, if_match.0))
        .await?;
    Ok(with_etag(report.revision, &report))
}

/// Moves a report: `draft` → `submitted` (editor) → `approved` | `returned`
/// (approver, `reason` required to return); `returned` → `draft` (editor).
/// Approval applies every assessment and update to the goals and activities
/// in the same transaction, each as its own status-change event; if any is
/// illegal the approval is 409 and nothing changes.
#[utoipa::path(
    operation_id = "transition_follow_up",
    tag = "follow-ups",
    params(("id" = String, Path, format = "uuid"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    request_body = FollowUpTransition,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report in its new status", body = FollowUp, headers(("ETag" = String))),
        WriteProblems,
    )
)]
#[post("/v1/follow-ups/{id}/transitions")]
pub async fn transition(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: JsonBody<FollowUpTransition>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, FollowUpId::parse, "follow-up")?;
    let caller = state.caller(auth);
    let report = state
        .run(move |store| store.transition_follow_up(&caller, &id, &body.0, if_match.0))
        .await?;
    Ok(with_etag(report.revision, &report))
}
