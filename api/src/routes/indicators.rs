//! `/v1/indicators`: indicators (mätetal), their values, the Kolada import and
//! the Öppna jämförelser comparison.

use crate::auth::Auth;
use crate::error::{ApiError, ListProblems, ReadProblems, WriteProblems};
use crate::extract::{created, path_id, query_text, with_etag, IfMatch, JsonBody, PageQuery};
use crate::state::AppState;
use actix_web::{get, patch, post, put, web, HttpResponse};
use planledger_domain::ids::{IndicatorId, OrganizationId};
use planledger_domain::indicator::{
    Comparison, Gender, Indicator, IndicatorPatch, IndicatorSource, IndicatorValue, KoladaData, KoladaSummary,
    NewIndicator, Period, ValuesSummary,
};
use planledger_persistence::{IndicatorFilter, Page, ValueFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

list_type!(
    /// A page of indicators.
    IndicatorList,
    Indicator
);

/// A page of an indicator's values.
#[derive(Serialize, ToSchema)]
pub struct IndicatorValueList {
    pub items: Vec<IndicatorValue>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Body of `PUT /v1/indicators/{id}/values`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValuesBatch {
    pub values: Vec<IndicatorValue>,
}

/// An organization id in a query: absent, or an id (empty is no id, as the document's `uuid` says).
fn organization_param(name: &str, value: Option<&str>) -> Result<Option<OrganizationId>, ApiError> {
    value
        .map(|id| {
            OrganizationId::parse(id).ok_or_else(|| ApiError::bad_request(format!("{name} must be an organization id")))
        })
        .transpose()
}

fn period_param(value: Option<String>) -> Result<Option<String>, ApiError> {
    match query_text("period", value)? {
        Some(period) if Period::parse(&period).is_none() => Err(ApiError::bad_request(format!(
            "period must be a year (2016), a month (2016-03), a tertial (2016T1) or a quarter (2016Q1), got {period:?}"
        ))),
        other => Ok(other),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IndicatorQuery {
    /// The source's code, e.g. `U21468`.
    pub code: Option<String>,
    pub source: Option<IndicatorSource>,
    /// Only indicators maintained by this organization.
    #[param(format = "uuid")]
    pub organization_id: Option<String>,
}

/// The indicators; public material, readable without a token while public read is on.
#[utoipa::path(
    operation_id = "list_indicators",
    tag = "indicators",
    params(IndicatorQuery, PageQuery),
    security((), ("bearer" = [])),
    responses((status = 200, description = "A page of indicators", body = IndicatorList), ListProblems)
)]
#[get("/v1/indicators")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    query: web::Query<IndicatorQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<IndicatorList>, ApiError> {
    let page = page.page()?;
    let query = query.into_inner();
    let filter = IndicatorFilter {
        code: query_text("code", query.code)?,
        source: query.source,
        organization_id: organization_param("organization_id", query.organization_id.as_deref())?,
    };
    let caller = state.caller(auth);
    let list = state
        .run(move |store| store.indicators(&caller, &filter, &page))
        .await?;
    Ok(web::Json(list.into()))
}

/// Creates an indicator (`editor` in the scope of `organization_id`, the root by default).
/// `code` is unique: a second indicator with the same code is 409.
#[utoipa::path(
    operation_id = "create_indicator",
    tag = "indicators",
    request_body = NewIndicator,
    security(("bearer" = [])),
    responses((status = 201, description = "Created", body = Indicator, headers(("Location" = String), ("ETag" = String))), WriteProblems)
)]
#[post("/v1/indicators")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    body: JsonBody<NewIndicator>,
) -> Result<HttpResponse, ApiError> {
    let caller = state.caller(auth);
    let indicator = state.run(move |store| store.create_indicator(&caller, body.0)).await?;
    Ok(created(
        format!("/v1/indicators/{}", indicator.id),
        indicator.revision,
        &indicator,
    ))
}

/// One indicator, with `stale` computed from its newest value.
#[utoipa::path(
    operation_id = "get_indicator",
    tag = "indicators",
    params(("id" = String, Path, format = "uuid")),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The indicator", body = Indicator, headers(("ETag" = String))), ReadProblems)
)]
#[get("/v1/indicators/{id}")]
pub async fn get(state: web::Data<AppState>, auth: Auth, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, IndicatorId::parse, "indicator")?;
    let caller = state.caller(auth);
    let indicator = state.run(move |store| store.indicator(&caller, &id)).await?;
    Ok(with_etag(indicator.revision, &indicator))
}

/// Changes an indicator (`editor` in the scope of its organization).
#[utoipa::path(
    operation_id = "update_indicator",
    tag = "indicators",
    params(("id" = String, Path, format = "uuid"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    request_body = IndicatorPatch,
    security(("bearer" = [])),
    responses((status = 200, description = "The changed indicator", body = Indicator, headers(("ETag" = String))), WriteProblems)
)]
#[patch("/v1/indicators/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: JsonBody<IndicatorPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, IndicatorId::parse, "indicator")?;
    let caller = state.caller(auth);
    let indicator = state
        .run(move |store| store.update_indicator(&caller, &id, body.0, if_match.0))
        .await?;
    Ok(with_etag(indicator.revision, &indicator))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ValueQuery {
    #[param(format = "uuid")]
    pub organization_id: Option<String>,
    /// `2016`, `2016-03`, `2016T1` or `2016Q1`; empty is no filter.
    #[param(pattern = r"^([1-9][0-9]{3}(-(0[1-9]|1[0-2])|T0?[1-3]|Q0?[1-4])?)?$")]
    pub period: Option<String>,
    pub gender: Option<Gender>,
}

/// An indicator's values, ordered by organization, period and gender. A missing value has
/// `value: null`.
#[utoipa::path(
    operation_id = "list_indicator_values",
    tag = "indicators",
    params(("id" = String, Path, format = "uuid"), ValueQuery, PageQuery),
    security((), ("bearer" = [])),
    responses((status = 200, description = "A page of values", body = IndicatorValueList), ListProblems)
)]
#[get("/v1/indicators/{id}/values")]
pub async fn values(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    query: web::Query<ValueQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<IndicatorValueList>, ApiError> {
    let id = path_id(&id, IndicatorId::parse, "indicator")?;
    let page = page.page()?;
    let query = query.into_inner();
    let filter = ValueFilter {
        organization_id: organization_param("organization_id", query.organization_id.as_deref())?,
        period: period_param(query.period)?,
        gender: query.gender,
    };
    let caller = state.caller(auth);
    let page = state
        .run(move |store| store.indicator_values(&caller, &id, &filter, &page))
        .await?;
    Ok(web::Json(IndicatorValueList {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// Upserts a batch of values in one transaction (`editor` in the scope of every value's
/// organization). `value: null` stores the value as missing, never as 0. A batch that changes
/// anything appends one `indicator.values_imported` event with its counts and organization ids.
#[utoipa::path(
    operation_id = "put_indicator_values",
    tag = "indicators",
    params(("id" = String, Path, format = "uuid")),
    request_body = ValuesBatch,
    security(("bearer" = [])),
    responses((status = 200, description = "What the batch did", body = ValuesSummary), WriteProblems)
)]
#[put("/v1/indicators/{id}/values")]
pub async fn put_values(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: JsonBody<ValuesBatch>,
) -> Result<web::Json<ValuesSummary>, ApiError> {
    let id = path_id(&id, IndicatorId::parse, "indicator")?;
    let caller = state.caller(auth);
    let summary = state
        .run(move |store| store.put_indicator_values(&caller, &id, body.0.values))
        .await?;
    Ok(web::Json(summary))
}

/// Imports Kolada's `data` JSON (API v2 or v3) as it comes, in one transaction (`editor`).
/// Municipality codes map onto organizations by `code`, as written and then without leading
/// zeros (`0180` → `180`); `0000` is the root organization (the whole country). A value of
/// `null` or with status `Missing` is stored as missing, never as 0; rows or values with
/// `isdeleted: true` remove the stored value. KPIs with no indicator of that code, codes that
/// map to no organization and organizations outside the caller's scope are reported and
/// skipped. Each indicator changed appends one `indicator.values_imported` event.
#[utoipa::path(
    operation_id = "import_kolada",
    tag = "indicators",
    request_body = KoladaData,
    security(("bearer" = [])),
    responses((status = 200, description = "What the import did", body = KoladaSummary), WriteProblems)
)]
#[post("/v1/indicators/import/kolada")]
pub async fn import_kolada(
    state: web::Data<AppState>,
    auth: Auth,
    body: JsonBody<KoladaData>,
) -> Result<web::Json<KoladaSummary>, ApiError> {
    let caller = state.caller(auth);
    let summary = state.run(move |store| store.import_kolada(&caller, body.0)).await?;
    Ok(web::Json(summary))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ComparisonQuery {
    /// The organization to compare.
    #[param(format = "uuid", required = true)]
    pub organization_id: Option<String>,
    /// The period: `2016`, `2016-03`, `2016T1` or `2016Q1`.
    #[param(required = true, pattern = r"^[1-9][0-9]{3}(-(0[1-9]|1[0-2])|T0?[1-3]|Q0?[1-4])?$")]
    pub period: Option<String>,
    /// A network of similar municipalities to compare with.
    #[param(format = "uuid")]
    pub similar_network_id: Option<String>,
}

/// "How do we stand?" (Öppna jämförelser), on the total (`T`) values of the period:
/// `organization.rank` is the place among the municipalities with a value (1 = best as
/// `direction` says, ties share a rank) `of` their number; `county` is the mean over the
/// municipalities whose parent is the organization's region (the organization itself when it
/// is a region); `national` the mean over all municipalities; `similar` (only with
/// `similar_network_id`) the mean over the network's members; `n` counts the values each mean
/// is over, and means are given as computed, not rounded. `target.met` is `value ≥ target`
/// for increasing indicators and `≤` for decreasing ones. `trend` is the organization's values
/// by period, oldest first (`null` where missing).
#[utoipa::path(
    operation_id = "compare_indicator",
    tag = "indicators",
    params(("id" = String, Path, format = "uuid"), ComparisonQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The comparison", body = Comparison),
        (status = 422, description = "`organization_id` or `similar_network_id` names no organization", body = crate::error::Problem, content_type = "application/problem+json"),
        ReadProblems,
    )
)]
#[get("/v1/indicators/{id}/comparison")]
pub async fn comparison(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    query: web::Query<ComparisonQuery>,
) -> Result<web::Json<Comparison>, ApiError> {
    let id = path_id(&id, IndicatorId::parse, "indicator")?;
    let query = query.into_inner();
    let organization = organization_param("organization_id", query.organization_id.as_deref())?
        .ok_or_else(|| ApiError::bad_request("organization_id is required"))?;
    let period = period_param(query.period)?.ok_or_else(|| ApiError::bad_request("period is required"))?;
    let network = organization_param("similar_network_id", query.similar_network_id.as_deref())?;
    let caller = state.caller(auth);
    let comparison = state
        .run(move |store| store.indicator_comparison(&caller, &id, &organization, &period, network.as_ref()))
        .await?;
    Ok(web::Json(comparison))
}
