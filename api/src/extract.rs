//! Request extractors: JSON bodies with every error as a problem, `If-Match`,
//! pagination, and ids in paths.

use crate::error::{ApiError, ProblemKind};
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::BytesMut;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use planledger_domain::validation::FieldError;
use planledger_persistence::PageRequest;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::{ready, Ready};
use utoipa::IntoParams;

/// A JSON request body: malformed JSON is 400, a body of the wrong shape
/// (missing, unknown or mistyped fields) is 422 naming the field, a body over
/// the limit is 413, another content type is 415.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = request
            .app_data::<web::Data<AppState>>()
            .map_or(1 << 20, |state| state.body_limit);
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if !(essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))) {
            return Box::pin(ready(Err(ApiError::new(
                ProblemKind::UnsupportedMediaType,
                format!("expected Content-Type: application/json, got {content_type:?}"),
            ))));
        }
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|length| length > limit) {
            return Box::pin(ready(Err(too_large(limit))));
        }
        let mut payload = payload.take();
        Box::pin(async move {
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| ApiError::bad_request(format!("could not read the body: {e}")))?;
                if body.len() + chunk.len() > limit {
                    return Err(too_large(limit));
                }
                body.extend_from_slice(&chunk);
            }
            parse_json(&body).map(JsonBody)
        })
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ProblemKind::PayloadTooLarge,
        format!("the body may be at most {limit} bytes"),
    )
}

/// Parses a body, telling malformed JSON (400) from JSON of the wrong shape (422).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(ProblemKind::MalformedJson, "the body is empty"));
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        let message = without_position(&error.to_string());
        // serde_json stops at 128 levels: well-formed, but nested past what any body here needs.
        if message.contains("recursion limit") {
            too_deep()
        } else {
            ApiError::new(ProblemKind::MalformedJson, message)
        }
    })?;
    if depth(&value) > MAX_DEPTH {
        return Err(too_deep());
    }
    // Every body is an object; serde alone would read an array as a struct's fields in order.
    if !value.is_object() {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    }
    // The body is an object, so the path names a field.
    if let Some(field) = field_with_nul(&value, "") {
        return Err(ApiError::validation(vec![FieldError::new(
            field,
            "must not contain the NUL character",
        )]));
    }
    let refusal = |error: serde_path_to_error::Error<serde_json::Error>| {
        let path = error.path().to_string();
        let message = without_position(&error.into_inner().to_string());
        ApiError::validation(vec![FieldError::new(field_name(&path, &message), message)])
    };
    // Numbers are read as written (a target's `15.0` stays `15.0`); only when that fails, and the
    // body has whole numbers written with a fraction, is it read again with those as integers.
    match serde_path_to_error::deserialize(&value) {
        Ok(parsed) => Ok(parsed),
        Err(error) => {
            let whole = whole_numbers_as_integers(value.clone());
            if whole == value {
                return Err(refusal(error));
            }
            serde_path_to_error::deserialize(whole).map_err(refusal)
        }
    }
}

/// JSON has one number type: `2016.0` is the same number as `2016`, and JSON Schema calls both an
/// integer. serde takes only the second form for an integer field, so here a whole number written
/// with a fraction becomes the integer it is (when a double holds it exactly, up to 2^53).
fn whole_numbers_as_integers(value: Value) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match value {
        Value::Number(number) if !number.is_i64() && !number.is_u64() => match number.as_f64() {
            Some(float) if float.fract() == 0.0 && float.abs() <= EXACT => {
                // Within ±2^53 the cast is exact.
                let whole = float as i64;
                Value::from(whole)
            }
            _ => Value::Number(number),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(whole_numbers_as_integers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, item)| (key, whole_numbers_as_integers(item)))
                .collect(),
        ),
        other => other,
    }
}

/// How deep a body may nest: the import format, the deepest, needs 6 levels.
const MAX_DEPTH: usize = 32;

fn too_deep() -> ApiError {
    ApiError::validation(vec![FieldError::new(
        "body",
        format!("must not nest deeper than {MAX_DEPTH} levels"),
    )])
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The path of the first string (or key) holding NUL, which no backend should be asked to store.
fn field_with_nul(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(text) if text.contains('\0') => Some(path.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| field_with_nul(item, &format!("{path}[{index}]"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                Some(child)
            } else {
                field_with_nul(item, &child)
            }
        }),
        _ => None,
    }
}

/// A text query parameter: NUL is refused (400), empty means absent.
pub fn query_text(name: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(text) if text.contains('\0') => Err(ApiError::bad_request(format!("{name} must not contain NUL"))),
        Some(text) if text.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// A timestamp query parameter: an RFC 3339 time (years 0000 to 9999, so in UTC -1 to 10000
/// with the offset; a signed or five-digit year is no RFC 3339 and is refused), held within
/// the years a stored time can have (1000 to 9999). Nothing is stored outside them, so a filter
/// or `as_of` beyond them answers the same as one at the bound.
pub fn query_time(name: &str, value: Option<DateTime<Utc>>) -> Result<Option<DateTime<Utc>>, ApiError> {
    use chrono::{Datelike, NaiveDate, TimeZone};
    use planledger_domain::validation::{MAX_YEAR, MIN_YEAR};
    let Some(time) = value else { return Ok(None) };
    if !(-1..=10_000).contains(&time.year()) {
        return Err(ApiError::bad_request(format!(
            "{name} must be an RFC 3339 time (years 0000 to 9999)"
        )));
    }
    let first = NaiveDate::from_ymd_opt(MIN_YEAR, 1, 1).and_then(|date| date.and_hms_opt(0, 0, 0));
    let last = NaiveDate::from_ymd_opt(MAX_YEAR, 12, 31).and_then(|date| date.and_hms_micro_opt(23, 59, 59, 999_999));
    Ok(Some(match (first, last) {
        (Some(first), _) if time.naive_utc() < first => Utc.from_utc_datetime(&first),
        (_, Some(last)) if time.naive_utc() > last => Utc.from_utc_datetime(&last),
        _ => time,
    }))
}

/// serde names a missing field in its message and not in the path; put it in the path.
fn field_name(path: &str, message: &str) -> String {
    let parent = if path == "." { "" } else { path };
    match message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        Some(missing) if parent.is_empty() => missing.to_owned(),
        Some(missing) => format!("{parent}.{missing}"),
        None if parent.is_empty() => "body".to_owned(),
        None => parent.to_owned(),
    }
}

fn without_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// `If-Match: "<revision>"`: the change applies only to that revision. `*` or no header: any.
pub struct IfMatch(pub Option<i64>);

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(value) = request.headers().get(header::IF_MATCH) else {
            return ready(Ok(IfMatch(None)));
        };
        let value = value.to_str().unwrap_or("").trim();
        if value == "*" {
            return ready(Ok(IfMatch(None)));
        }
        // A weak or unreadable tag never matches a strong ETag: the request then fails with 412.
        // A plan read whole carries `"<revision>.<history seq>"`; its revision is what a change must match.
        let revision = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .and_then(|v| v.split('.').next())
            .and_then(|v| v.parse::<i64>().ok());
        ready(Ok(IfMatch(Some(revision.unwrap_or(-1)))))
    }
}

/// `limit` and `cursor` of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 500 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = parse_limit(
            self.limit.as_deref(),
            PageRequest::DEFAULT_LIMIT,
            PageRequest::MAX_LIMIT,
        )?;
        Ok(PageRequest {
            limit,
            cursor: self.cursor.clone().filter(|c| !c.is_empty()),
        })
    }
}

/// Parses a `limit`: a whole number from 1 to `max`; more is refused, as the document says,
/// and so is `limit=` with nothing, which is no number.
pub fn parse_limit(text: Option<&str>, default: i64, max: i64) -> Result<i64, ApiError> {
    match text {
        None => Ok(default),
        Some(text) => match text.parse::<i64>() {
            Ok(limit) if (1..=max).contains(&limit) => Ok(limit),
            _ => Err(ApiError::bad_request(format!(
                "limit must be a whole number from 1 to {max}, got {text:?}"
            ))),
        },
    }
}

/// Reads an id from a path; text that is no UUID names no resource.
pub fn path_id<T>(text: &str, parse: fn(&str) -> Option<T>, what: &str) -> Result<T, ApiError> {
    parse(text).ok_or_else(|| ApiError::not_found(what))
}

/// A single resource with its strong `ETag` (the quoted revision).
pub fn with_etag<T: Serialize>(revision: i64, body: &T) -> HttpResponse {
    with_tag(format!("\"{revision}\""), body)
}

/// A single resource with the given strong `ETag`.
pub fn with_tag<T: Serialize>(tag: String, body: &T) -> HttpResponse {
    tagged(tag).json(body)
}

/// [`with_tag`] for a body that is JSON already.
pub fn with_tag_json(tag: String, json: String) -> HttpResponse {
    tagged(tag)
        .content_type(actix_web::http::header::ContentType::json())
        .body(json)
}

fn tagged(tag: String) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    // `no-cache`, not `no-store`: a client may keep the answer and revalidate it with If-None-Match.
    response
        .insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"));
    response
}

/// Middleware: a `GET` whose `If-None-Match` names the answer's `ETag` (or `*`) is answered
/// 304 Not Modified, without a body (RFC 9110 §13.1.2).
pub async fn not_modified(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let wanted = (request.method() == actix_web::http::Method::GET)
        .then(|| {
            request
                .headers()
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .flatten();
    let response = next.call(request).await?.map_into_boxed_body();
    let Some(wanted) = wanted else { return Ok(response) };
    let tag = response
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let matches = |tag: &str| {
        wanted.trim() == "*"
            || wanted
                .split(',')
                .any(|candidate| candidate.trim().trim_start_matches("W/") == tag.trim_start_matches("W/"))
    };
    match tag {
        Some(tag) if response.status() == actix_web::http::StatusCode::OK && matches(&tag) => {
            let (request, _) = response.into_parts();
            let unchanged = HttpResponse::NotModified().insert_header((header::ETAG, tag)).finish();
            Ok(actix_web::dev::ServiceResponse::new(request, unchanged))
        }
        _ => Ok(response),
    }
}

/// A created resource: 201 with `Location` and `ETag`.
pub fn created<T: Serialize>(location: String, revision: i64, body: &T) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::ETAG, format!("\"{revision}\"")))
        .json(body)
}
