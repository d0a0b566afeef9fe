//! `/v1/reports/…`: reports for scheduled scripts, each as JSON or as CSV
//! (RFC 4180, UTF-8, a header row) on `Accept: text/csv` or `?format=csv`.

use crate::auth::Auth;
use crate::error::{ApiError, ListProblems, ProblemKind};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use planledger_domain::report::OverdueActivity;
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
