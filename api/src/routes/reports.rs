//! `/v1/reports/…`: reports for scheduled scripts, each as JSON or as CSV
//! (RFC 4180, UTF-8, a header row) on `Accept: text/csv` or `?format=csv`.

use crate::auth::Auth;
use crate::error::{ApiError, ListProblems, ProblemKind};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::HttpResponseBuilder;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use futures_util::StreamExt;
use planledger_domain::ids::{IndicatorId, OrganizationId};
use planledger_domain::indicator::Period;
use planledger_domain::report::{CountyReport, DueItem, OverdueActivity, PlanStatusRow};
use planledger_persistence::{ReportSink, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
use std::time::Duration;
use tokio::sync::mpsc;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

/// `format`: `json` (the default) or `csv`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `csv` for RFC 4180 CSV; `Accept: text/csv` does the same.
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

/// How long a report waits for its reader to take the next batch before it gives up,
/// releasing the database connection and snapshot it holds.
const STALLED_READER: Duration = Duration::from_secs(30);

/// How a report's rows are written: CSV with a header row, or JSON in its envelope.
enum Encoding {
    /// RFC 4180 with CRLF, offered for download under this file name.
    Csv { file_name: String },
    /// The envelope (`{"as_of": …, "items": [`) before the rows and the end after them.
    Json { head: String },
}

impl Encoding {
    fn chosen(request: &HttpRequest, format: &FormatQuery, file_name: String) -> Result<Self, ApiError> {
        let csv = match format.format.as_deref() {
            Some("csv") => true,
            Some("json") => false,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "format must be json or csv, got {other:?}"
                )))
            }
            None => request
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("text/csv")),
        };
        Ok(if csv {
            Encoding::Csv { file_name }
        } else {
            Encoding::Json { head: String::new() }
        })
    }

    /// Sets the JSON envelope: `envelope` serialized with its `items` (the last field) empty.
    fn around<E: Serialize>(self, envelope: &E) -> Result<Self, ApiError> {
        let Encoding::Json { .. } = self else { return Ok(self) };
        let text = serde_json::to_string(envelope).map_err(internal)?;
        let head = text
            .strip_suffix("[]}")
            .map(|envelope| format!("{envelope}["))
            .ok_or_else(|| ApiError::new(ProblemKind::Internal, "a report envelope must end with its items"))?;
        Ok(Encoding::Json { head })
    }

    /// The start of the body: the CSV header row (from the row schema's properties, so that an
    /// empty report has one too) or the JSON envelope's head.
    fn start<T: PartialSchema>(&self) -> Result<Vec<u8>, ApiError> {
        match self {
            Encoding::Json { head } => Ok(head.clone().into_bytes()),
            Encoding::Csv { .. } => {
                let RefOr::T(Schema::Object(row)) = T::schema() else {
                    return Err(ApiError::new(ProblemKind::Internal, "a report row must be an object"));
                };
                let mut writer = csv_writer();
                writer.write_record(row.properties.keys()).map_err(internal)?;
                writer.into_inner().map_err(internal)
            }
        }
    }

    /// Appends rows; `first` when none has been written before.
    fn rows<T: Serialize>(&self, out: &mut Vec<u8>, rows: &[T], first: bool) -> Result<(), ApiError> {
        match self {
            Encoding::Json { .. } => {
                for (i, row) in rows.iter().enumerate() {
                    if !(first && i == 0) {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut *out, row).map_err(internal)?;
                }
                Ok(())
            }
            Encoding::Csv { .. } => {
                let mut writer = csv_writer();
                for row in rows {
                    writer.serialize(row).map_err(internal)?;
                }
                out.extend(writer.into_inner().map_err(internal)?);
                Ok(())
            }
        }
    }

    fn end(&self) -> &'static [u8] {
        match self {
            Encoding::Json { .. } => b"]}",
            Encoding::Csv { .. } => b"",
        }
    }

    fn response(&self) -> HttpResponseBuilder {
        let mut response = HttpResponse::Ok();
        match self {
            Encoding::Json { .. } => response.content_type("application/json"),
            Encoding::Csv { file_name } => response.content_type("text/csv; charset=utf-8").insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}.csv\""),
            )),
        };
        response
    }
}

fn csv_writer() -> ::csv::Writer<Vec<u8>> {
    ::csv::WriterBuilder::new()
        .has_headers(false)
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    ApiError::new(ProblemKind::Internal, error.to_string())
}

/// Streams a report as `read` hands on its rows, one snapshot on the blocking pool. The
/// answer starts once the first batch is read, so that a report that fails before that (an
/// unknown organization, an unavailable database) is a problem answer; a failure after
/// that ends the body early and without its end, which a reader sees as a broken transfer
/// rather than a short report.
async fn stream_report<T, Read>(state: &AppState, encoding: Encoding, read: Read) -> Result<HttpResponse, ApiError>
where
    T: Serialize + PartialSchema + Send + 'static,
    Read: FnOnce(&Store, ReportSink<'_, T>) -> Result<(), StoreError> + Send + 'static,
{
    let (sender, mut receiver) = mpsc::channel::<Result<Bytes, ApiError>>(2);
    let store = state.store.clone();
    let runtime = tokio::runtime::Handle::current();
    let mut response = encoding.response();
    tokio::task::spawn_blocking(move || {
        let send = |chunk: Result<Bytes, ApiError>| {
            runtime
                .block_on(tokio::time::timeout(STALLED_READER, sender.send(chunk)))
                .is_ok_and(|sent| sent.is_ok())
        };
        let mut body = match encoding.start::<T>() {
            Ok(start) => start,
            Err(error) => {
                send(Err(error));
                return;
            }
        };
        let mut written = false;
        let mut failure = None;
        let outcome = read(&store, &mut |rows: Vec<T>| {
            if let Err(error) = encoding.rows(&mut body, &rows, !written) {
                failure = Some(error);
                return ControlFlow::Break(());
            }
            written |= !rows.is_empty();
            if send(Ok(Bytes::from(std::mem::take(&mut body)))) {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        });
        let end = match (outcome, failure) {
            (Err(error), _) => Err(ApiError::from(error)),
            (Ok(()), Some(error)) => Err(error),
            (Ok(()), None) => {
                body.extend_from_slice(encoding.end());
                Ok(Bytes::from(body))
            }
        };
        send(end);
    });
    let first = receiver
        .recv()
        .await
        .ok_or_else(|| ApiError::new(ProblemKind::Internal, "the report stopped before it started"))??;
    let rest = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let chunk = receiver.recv().await?;
        let chunk = chunk.map_err(|error| {
            tracing::error!(%error, "a report failed while it was sent; its body ends early");
            actix_web::error::ErrorInternalServerError(error.to_string())
        });
        Some((chunk, receiver))
    });
    Ok(response.streaming(futures_util::stream::once(async move { Ok(first) }).chain(rest)))
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
    let as_of = query.as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let encoding = Encoding::chosen(&request, &format, format!("overdue-activities-{as_of}"))?
        .around(&OverdueReport { as_of, items: vec![] })?;
    let caller = state.caller(auth);
    stream_report(&state, encoding, move |store, sink| {
        store.overdue_activities(&caller, as_of, sink)
    })
    .await
}

/// `organization_id` and `period` of the status report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// The organization; its descendants' plans are included.
    #[param(format = "uuid", required = true)]
    pub organization_id: Option<String>,
    /// The year, e.g. `2016`.
    #[param(value_type = i32, required = true, minimum = 1000, maximum = 9999)]
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
        (status = 422, description = "`organization_id` names no organization", body = crate::error::Problem, content_type = "application/problem+json"),
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
    let organization = organization_param(query.organization_id.as_deref())?;
    let year = year_param(query.period.as_deref())?;
    let encoding = Encoding::chosen(&request, &format, format!("status-{year}"))?.around(&StatusReport {
        organization_id: organization.to_string(),
        period: year.to_string(),
        items: vec![],
    })?;
    let caller = state.caller(auth);
    stream_report(&state, encoding, move |store, sink| {
        store.status_report(&caller, &organization, year, sink)
    })
    .await
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
    let before = query.before.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let encoding =
        Encoding::chosen(&request, &format, format!("due-{before}"))?.around(&DueReport { before, items: vec![] })?;
    let caller = state.caller(auth);
    stream_report(&state, encoding, move |store, sink| {
        store.due_report(&caller, before, sink)
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CountyQuery {
    /// The region.
    #[param(format = "uuid", required = true)]
    pub organization_id: Option<String>,
    /// The period: `2016`, `2016-03`, `2016T1` or `2016Q1`.
    #[param(required = true, pattern = r"^[1-9][0-9]{3}(-(0[1-9]|1[0-2])|T0?[1-3]|Q0?[1-4])?$")]
    pub period: Option<String>,
    /// Indicator ids, comma-separated; the columns in this order.
    #[param(value_type = Vec<IndicatorId>, required = true, min_items = 1, style = Form, explode = false)]
    pub indicator_ids: Option<String>,
}

/// A number as JSON writes it, empty for null.
fn number_cell(value: Option<f64>) -> String {
    value
        .map(|v| serde_json::Value::from(v).to_string())
        .unwrap_or_default()
}

fn county_csv(report: &CountyReport) -> Result<Vec<u8>, ApiError> {
    let mut writer = csv_writer();
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
    writer.into_inner().map_err(internal)
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
        (status = 422, description = "`organization_id` names no organization", body = crate::error::Problem, content_type = "application/problem+json"),
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
    let encoding = Encoding::chosen(&request, &format, format!("county-{period}"))?;
    let caller = state.caller(auth);
    let report = state
        .run(move |store| store.county_report(&caller, &region, &period, &ids))
        .await?;
    // One row per municipality of one region: small enough to answer whole.
    match encoding {
        Encoding::Csv { .. } => Ok(encoding.response().body(county_csv(&report)?)),
        Encoding::Json { .. } => Ok(HttpResponse::Ok().json(report)),
    }
}
