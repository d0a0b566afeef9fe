//! `/v1/organizations`.

use super::OrganizationList;
use crate::auth::Auth;
use crate::error::{ApiError, ListProblems, ReadProblems, WriteProblems};
use crate::extract::{created, path_id, query_text, query_time, with_etag, with_tag, IfMatch, JsonBody, PageQuery};
use crate::state::AppState;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use planledger_domain::ids::OrganizationId;
use planledger_domain::organization::{
    NewOrganization, Organization, OrganizationKind, OrganizationPatch, OrganizationView,
};
use planledger_persistence::OrganizationFilter;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrganizationQuery {
    pub kind: Option<OrganizationKind>,
    /// Only the children of this organization.
    #[param(format = "uuid")]
    pub parent_id: Option<String>,
    /// Official code, e.g. `2309`.
    pub code: Option<String>,
    /// Text in the name, case-insensitive.
    pub q: Option<String>,
    pub updated_since: Option<DateTime<Utc>>,
}

/// The organization directory, readable with any valid token.
#[utoipa::path(
    operation_id = "list_organizations",
    tag = "organizations",
    params(OrganizationQuery, PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of organizations", body = OrganizationList),
        ListProblems,
    )
)]
#[get("/v1/organizations")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    query: web::Query<OrganizationQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<OrganizationList>, ApiError> {
    let caller = state.caller(auth);
    let page = page.page()?;
    let query = query.into_inner();
    let filter = OrganizationFilter {
        kind: query.kind,
        parent_id: query
            .parent_id
            .as_deref()
            .map(|id| {
                OrganizationId::parse(id).ok_or_else(|| ApiError::bad_request("parent_id must be an organization id"))
            })
            .transpose()?,
        code: query_text("code", query.code)?,
        q: query_text("q", query.q)?,
        updated_since: query_time("updated_since", query.updated_since)?,
    };
    let list = state
        .run(move |store| store.organizations(&caller, &filter, &page))
        .await?;
    Ok(web::Json(list.into()))
}

/// Creates an organization (admin of the parent's scope).
#[utoipa::path(
    operation_id = "create_organization",
    tag = "organizations",
    request_body = NewOrganization,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Organization),
        WriteProblems,
    )
)]
#[post("/v1/organizations")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    body: JsonBody<NewOrganization>,
) -> Result<HttpResponse, ApiError> {
    let caller = state.caller(auth);
    let organization = state
        .run(move |store| store.create_organization(&caller, body.0))
        .await?;
    Ok(created(
        format!("/v1/organizations/{}", organization.id),
        organization.revision,
        &organization,
    ))
}

/// One organization.
#[utoipa::path(
    operation_id = "get_organization",
    tag = "organizations",
    params(("id" = String, Path, format = "uuid")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The organization, with the indicators gone stale for it", body = OrganizationView, headers(("ETag" = String))),
        ReadProblems,
    )
)]
#[get("/v1/organizations/{id}")]
pub async fn get(state: web::Data<AppState>, auth: Auth, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, OrganizationId::parse, "organization")?;
    let caller = state.caller(auth);
    let view = state.run(move |store| store.organization(&caller, &id)).await?;
    // The revision, and how many indicators are stale for it: staleness moves with time, not revisions.
    let tag = format!("\"{}.{}\"", view.organization.revision, view.stale_indicator_ids.len());
    Ok(with_tag(tag, &view))
}

/// Changes an organization (admin of its scope).
#[utoipa::path(
    operation_id = "update_organization",
    tag = "organizations",
    params(("id" = String, Path, format = "uuid"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    request_body = OrganizationPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed organization", body = Organization, headers(("ETag" = String))),
        WriteProblems,
    )
)]
#[patch("/v1/organizations/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: JsonBody<OrganizationPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, OrganizationId::parse, "organization")?;
    let caller = state.caller(auth);
    let organization = state
        .run(move |store| store.update_organization(&caller, &id, body.0, if_match.0))
        .await?;
    Ok(with_etag(organization.revision, &organization))
}
