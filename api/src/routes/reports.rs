//! `/v1/reports/…`: reports for scheduled scripts, each as JSON or as CSV
//! (RFC 4180, UTF-8, a header row) on `Accept: text/csv` or `?format=csv`.

use crate::auth::Auth;
use crate::error::{ApiError, ListProblems, ProblemKind};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use planledger_domain::ids::{IndicatorId, OrganizationId};
use planledger_domain::indicator::Period;
use planledger_domain::report::{CountyReport, DueItem, OverdueActivity, PlanStatusRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `format`: `json` (the default) or `csv`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `csv` for RFC 4180 CSV; `Accept: text/csv` does the same.
    pub format: Option<String>,
}

fn wants_csv(request: &HttpRequest, format: &FormatQuery) -> Result<bool, ApiError> {
    match format.format.as_deref() {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => Err(ApiError::bad_request(format!(
            "format must be json or csv, got {other:?}"
        ))),
        None => Ok(request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/csv"))),
    }
}

/// Rows as CSV, with a header row from the rows' field names.
fn csv_response<T: Serialize>(name: &str, rows: &[T]) -> Result<HttpResponse, ApiError> {
    let mut writer = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for row in rows {
        writer
            .serialize(row)
            .map_err(|e| ApiError::new(ProblemKind::Internal, e.to_string()))?;
    }
    let body = writer
        .into_inner()
        .map_err(|e| ApiError::new(ProblemKind::Internal, e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.csv\""),
        ))
        .body(body))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OverdueQuery {
    /// The day to judge by (default today).
    pub as_of: Option<NaiveDate>,
}

/// The overdue-activities report.
#[derive(Serialize, ToSchema)]
pub struct OverdueReport {
    pub as_of: NaiveDate,
    pub items: Vec<OverdueActivity>,
}

/// Activities of plans in force (adopted or under revision) past their `due_date` on `as_of`
/// and neither done nor cancelled, the longest overdue first; as JSON or CSV.
#[utoipa::path(
    operation_id = "report_overdue_activities",
    tag = "reports",
    params(OverdueQuery, FormatQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The report", content((OverdueReport = "application/json"), (String = "text/csv"))),
        ListProblems,
    )
)]
#[get("/v1/reports/overdue-activities")]
pub async fn overdue_activities(
    state: web::Data<AppState>,
    request: HttpRequest,
    auth: Auth,
    query: web::Query<OverdueQuery>,
    format: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    let csv = wants_csv(&request, &format)?;
    let as_of = query.as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let caller = state.caller(auth);
    let items = state.run(move |store| store.overdue_activities(&caller, as_of)).await?;
    if csv {
        return csv_response(&format!("overdue-activities-{as_of}"), &items);
    }
    Ok(HttpResponse::Ok().json(OverdueReport { as_of, items }))
}

/// `organization_id` and `period` of the status report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// The organization; its descendants' plans are included.
    #[param(format = "uuid")]
    pub organization_id: Option<String>,
    /// The year, e.g. `2016`.
    pub period: Option<String>,
}

/// The status report.
#[derive(Serialize, ToSchema)]
pub struct StatusReport {
    pub organization_id: String,
    pub period: String,
    pub items: Vec<PlanStatusRow>,
}

fn organization_param(value: Option<&str>) -> Result<OrganizationId, ApiError> {
    let value = value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request("organization_id is required"))?;
    OrganizationId::parse(value).ok_or_else(|| ApiError::bad_request("organization_id must be an organization id"))
}

fn year_param(value: Option<&str>) -> Result<i32, ApiError> {
    let value = value.ok_or_else(|| ApiError::bad_request("period is required"))?;
    value
        .parse::<i32>()
        .ok()
        .filter(|year| (1000..=9999).contains(year))
        .ok_or_else(|| ApiError::bad_request(format!("period must be a year (2016), got {value:?}")))
}

/// Per plan of the organization and its descendants that the caller sees and whose period
/// covers the year (`period`): goals counted by status (`goals_total` and a column per goal
/// status, zeros included), activities likewise, and the newest follow-up of the plan for
/// the period (`follow_up_id`, `follow_up_kind`, `follow_up_status`; null when there is none
/// the caller may see). Plans by organization, then title. The CSV has one row per item, the
/// same columns.
#[utoipa::path(
    operation_id = "report_status",
    tag = "reports",
    params(StatusQuery, FormatQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The report", content((StatusReport = "application/json"), (String = "text/csv"))),
        ListProblems,
    )
)]
#[get("/v1/reports/status")]
pub async fn status(
    state: web::Data<AppState>,
    request: HttpRequest,
    auth: Auth,
    query: web::Query<StatusQuery>,
    format: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    let csv = wants_csv(&request, &format)?;
    let organization = organization_param(query.organization_id.as_deref())?;
    let year = year_param(query.period.as_deref())?;
    let caller = state.caller(auth);
    let id = organization.clone();
    let items = state.run(move |store| store.status_report(&caller, &id, year)).await?;
    if csv {
        return csv_response(&format!("status-{year}"), &items);
    }
    Ok(HttpResponse::Ok().json(StatusReport {
        organization_id: organization.to_string(),
        period: year.to_string(),
        items,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DueQuery {
    /// The day to judge by (default today).
    pub before: Option<NaiveDate>,
}

/// The due report.
#[derive(Serialize, ToSchema)]
pub struct DueReport {
    pub before: NaiveDate,
    pub items: Vec<DueItem>,
}

/// What is due, for reminder scripts. Items of `kind`:
/// - `follow_up`: for each plan in force (adopted or under revision) the caller sees, every
///   year its period covers that ended before `before` (31 December < `before`; from the
///   period's first year, or only the last ended year when the period has no start) without an
///   approved `annual` follow-up; `period` is the year, `subject_id` the open report
///   (`state` its status) or, when there is none, the plan (`state` `missing`);
/// - `activity`: the activities of `/v1/reports/overdue-activities?as_of=<before>`
///   (`state` the activity's status, `due_date` set);
/// - `indicator`: indicators stale as of `before` by the staleness rule of the indicators
///   (`state` `stale`, `period` the newest period with a value).
///
/// Follow-ups first, then activities, then indicators. The CSV has one row per item.
#[utoipa::path(
    operation_id = "report_due",
    tag = "reports",
    params(DueQuery, FormatQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The report", content((DueReport = "application/json"), (String = "text/csv"))),
        ListProblems,
    )
)]
#[get("/v1/reports/due")]
pub async fn due(
    state: web::Data<AppState>,
    request: HttpRequest,
    auth: Auth,
    query: web::Query<DueQuery>,
    format: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    let csv = wants_csv(&request, &format)?;
    let before = query.before.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let caller = state.caller(auth);
    let items = state.run(move |store| store.due_report(&caller, before)).await?;
    if csv {
        return csv_response(&format!("due-{before}"), &items);
    }
    Ok(HttpResponse::Ok().json(DueReport { before, items }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CountyQuery {
    /// The region.
    #[param(format = "uuid")]
    pub organization_id: Option<String>,
    /// The period, e.g. `2016`.
    pub period: Option<String>,
    /// Indicator ids, comma-separated; the columns in this order.
    pub indicator_ids: Option<String>,
}

/// A number as JSON writes it, empty for null.
fn number_cell(value: Option<f64>) -> String {
    value
        .map(|v| serde_json::Value::from(v).to_string())
        .unwrap_or_default()
}

fn county_csv(report: &CountyReport) -> Result<HttpResponse, ApiError> {
    let internal = |e: ::csv::Error| ApiError::new(ProblemKind::Internal, e.to_string());
    let mut writer = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let codes: Vec<&str> = report.indicators.iter().map(|i| i.code.as_str()).collect();
    let mut header = vec!["organization_id", "name", "code"];
    header.extend(codes.iter().copied());
    writer.write_record(&header).map_err(internal)?;
    for row in &report.rows {
        let mut record = vec![
            row.organization_id.clone(),
            row.name.clone(),
            row.code.clone().unwrap_or_default(),
        ];
        record.extend(codes.iter().map(|c| number_cell(row.values.get(*c).copied().flatten())));
        writer.write_record(&record).map_err(internal)?;
    }
    for (label, figures) in [
        ("county_mean", &report.county_mean),
        ("national_mean", &report.national_mean),
        ("target", &report.target),
    ] {
        let mut record = vec![label.to_owned(), String::new(), String::new()];
        record.extend(codes.iter().map(|c| number_cell(figures.get(*c).copied().flatten())));
        writer.write_record(&record).map_err(internal)?;
    }
    let body = writer
        .into_inner()
        .map_err(|e| ApiError::new(ProblemKind::Internal, e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"county-{}.csv\"", report.period),
        ))
        .body(body))
}

/// The county compilation (länsrapport): every municipality whose parent is the region
/// (`organization_id`, a region) as a row, by name, with each indicator's value (gender `T`)
/// for the period under its code in `values` (null when missing); `county_mean` is the mean
/// over the region's municipalities with a value, `national_mean` over all municipalities with
/// a value (null when none), `target` the indicator's target.
///
/// CSV layout: a header row `organization_id,name,code,<code>…` (one column per indicator
/// code, in the order of `indicator_ids`); one row per municipality; then three rows whose
/// `organization_id` is `county_mean`, `national_mean` and `target` with `name` and `code`
/// empty. Missing values are empty cells; numbers are written as in the JSON.
#[utoipa::path(
    operation_id = "report_county",
    tag = "reports",
    params(CountyQuery, FormatQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The report", content((CountyReport = "application/json"), (String = "text/csv"))),
        ListProblems,
    )
)]
#[get("/v1/reports/county")]
pub async fn county(
    state: web::Data<AppState>,
    request: HttpRequest,
    auth: Auth,
    query: web::Query<CountyQuery>,
    format: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    let csv = wants_csv(&request, &format)?;
    let region = organization_param(query.organization_id.as_deref())?;
    let period = query
        .period
        .clone()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad_request("period is required"))?;
    if Period::parse(&period).is_none() {
        return Err(ApiError::bad_request(format!(
            "period must be a year (2016), a month (2016-03), a tertial (2016T1) or a quarter (2016Q1), got {period:?}"
        )));
    }
    let ids = query
        .indicator_ids
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| IndicatorId::parse(id).ok_or_else(|| ApiError::bad_request(format!("{id:?} is not an indicator id"))))
        .collect::<Result<Vec<_>, _>>()?;
    if ids.is_empty() {
        return Err(ApiError::bad_request("indicator_ids is required"));
    }
    let caller = state.caller(auth);
    let report = state
        .run(move |store| store.county_report(&caller, &region, &period, &ids))
        .await?;
    if csv {
        return county_csv(&report);
    }
    Ok(HttpResponse::Ok().json(report))
}
