//! The one error type of the HTTP layer and its problem+json form (RFC 9457).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use planledger_domain::permissions::Denial;
use planledger_domain::validation::FieldError;
use planledger_domain::DomainError;
use planledger_persistence::StoreError;
use serde::Serialize;
use std::fmt;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem report (RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A path on this service that serves a short page on the problem, e.g. `/problems/validation`.
    #[serde(rename = "type")]
    #[schema(example = "/problems/validation")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Every bad field, for validation problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// The legal targets, for `/problems/invalid-transition`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
}

/// The kinds of problem this service answers, each with its page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    MalformedJson,
    BadRequest,
    Validation,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    InvalidTransition,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyRequests,
    ServiceUnavailable,
    Internal,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 15] = [
        Self::MalformedJson,
        Self::BadRequest,
        Self::Validation,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::InvalidTransition,
        Self::Conflict,
        Self::PreconditionFailed,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::TooManyRequests,
        Self::ServiceUnavailable,
        Self::Internal,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed-json",
            Self::BadRequest => "bad-request",
            Self::Validation => "validation",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::InvalidTransition => "invalid-transition",
            Self::Conflict => "conflict",
            Self::PreconditionFailed => "precondition-failed",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::TooManyRequests => "too-many-requests",
            Self::ServiceUnavailable => "service-unavailable",
            Self::Internal => "internal",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::MalformedJson | Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::InvalidTransition | Self::Conflict => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::MalformedJson => "The request body is not valid JSON",
            Self::BadRequest => "The request is malformed",
            Self::Validation => "The request has invalid fields",
            Self::Unauthorized => "A valid bearer token is required",
            Self::Forbidden => "The token does not allow this",
            Self::NotFound => "No such resource",
            Self::MethodNotAllowed => "The method is not allowed on this resource",
            Self::InvalidTransition => "The status cannot change that way",
            Self::Conflict => "The request conflicts with the current state",
            Self::PreconditionFailed => "The resource has changed since it was read",
            Self::PayloadTooLarge => "The request body is too large",
            Self::UnsupportedMediaType => "The request body must be application/json",
            Self::TooManyRequests => "Too many requests",
            Self::ServiceUnavailable => "The service is temporarily unavailable",
            Self::Internal => "An internal error occurred",
        }
    }

    /// The short page `/problems/{slug}` serves.
    pub fn explanation(self) -> &'static str {
        match self {
            Self::MalformedJson => "The body could not be parsed as JSON. Check quoting, commas and the encoding (UTF-8).",
            Self::BadRequest => "A query parameter, header or cursor is malformed. `detail` names it.",
            Self::Validation => "The body is JSON but some fields are missing, of the wrong type, unknown or break a rule. `errors` lists every one by its path.",
            Self::Unauthorized => "Send `Authorization: Bearer <JWT>` with a token that is signed by the configured key, unexpired, and has the configured issuer and audience.",
            Self::Forbidden => "The token's organization scope or roles do not allow this action. Roles accumulate: reader, editor, approver, admin.",
            Self::NotFound => "No resource has this id, or the token may not see it.",
            Self::MethodNotAllowed => "This path does not take this HTTP method.",
            Self::InvalidTransition => "The status machine does not allow this move from the current status. `allowed` lists the statuses that are.",
            Self::Conflict => "The request conflicts with the current state, e.g. a duplicate code or a plan that is final.",
            Self::PreconditionFailed => "`If-Match` named a revision other than the current one. Read the resource again and retry.",
            Self::PayloadTooLarge => "The body exceeds the configured limit.",
            Self::UnsupportedMediaType => "Send the body as `Content-Type: application/json`.",
            Self::TooManyRequests => "This caller (a token's subject and organization, or else the client address) sent more requests than the configured rate and burst allow. Retry after the number of seconds in `Retry-After`.",
            Self::ServiceUnavailable => "The database cannot be reached right now. Retry after the number of seconds in `Retry-After`.",
            Self::Internal => "Something failed inside the service. The request id in `X-Request-Id` finds it in the logs.",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.slug() == slug)
    }
}

/// An error answered as a problem.
#[derive(Debug)]
pub struct ApiError {
    pub kind: ProblemKind,
    pub detail: Option<String>,
    pub errors: Option<Vec<FieldError>>,
    pub allowed: Option<Vec<String>>,
    /// Seconds for `Retry-After`, for 429 and 503 answers.
    pub retry_after: Option<u64>,
    /// A 401 for a token that was sent but is not valid (RFC 6750 `error="invalid_token"`).
    pub invalid_token: bool,
}

impl ApiError {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: Some(detail.into()),
            errors: None,
            allowed: None,
            retry_after: None,
            invalid_token: false,
        }
    }

    /// A 429 whose `Retry-After` is `wait` rounded up to whole seconds (at least 1).
    pub fn too_many_requests(wait: std::time::Duration) -> Self {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        Self {
            retry_after: Some(seconds),
            ..Self::new(
                ProblemKind::TooManyRequests,
                format!("the rate limit is used up; retry in {seconds} s"),
            )
        }
    }

    /// A 401 for a token that was sent and refused.
    pub fn invalid_token(detail: impl Into<String>) -> Self {
        Self {
            invalid_token: true,
            ..Self::new(ProblemKind::Unauthorized, detail)
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::BadRequest, detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ProblemKind::NotFound, format!("no {what} with this id"))
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [only] => format!("{}: {}", only.field, only.message),
            many => format!("{} fields are invalid", many.len()),
        };
        Self {
            kind: ProblemKind::Validation,
            detail: Some(detail),
            errors: Some(errors),
            allowed: None,
            retry_after: None,
            invalid_token: false,
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Unauthorized, detail)
    }

    pub fn problem(&self) -> Problem {
        Problem {
            problem_type: format!("/problems/{}", self.kind.slug()),
            title: self.kind.title().to_owned(),
            status: self.kind.status().as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
            allowed: self.allowed.clone(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind.title())?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        match self.kind {
            ProblemKind::Unauthorized if self.invalid_token => {
                response.insert_header((header::WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#));
            }
            ProblemKind::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ProblemKind::ServiceUnavailable => {
                response.insert_header((header::RETRY_AFTER, self.retry_after.unwrap_or(5).to_string()));
            }
            ProblemKind::TooManyRequests => {
                response.insert_header((header::RETRY_AFTER, self.retry_after.unwrap_or(1).max(1).to_string()));
            }
            _ => {}
        }
        response.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Validation(errors) => ApiError::validation(errors),
            DomainError::InvalidTransition { from, to, allowed } => ApiError {
                kind: ProblemKind::InvalidTransition,
                detail: Some(format!("cannot change status from {from} to {to}")),
                errors: None,
                allowed: Some(allowed),
                retry_after: None,
                invalid_token: false,
            },
            DomainError::Conflict(detail) => ApiError::new(ProblemKind::Conflict, detail),
            DomainError::RevisionMismatch { current } => ApiError::new(
                ProblemKind::PreconditionFailed,
                format!("the current revision is {current}"),
            ),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Domain(error) => error.into(),
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Denied(Denial::Unauthenticated) => ApiError::unauthorized("this needs a bearer token"),
            StoreError::Denied(Denial::Forbidden) => ApiError::new(
                ProblemKind::Forbidden,
                "the token's roles or organization scope do not allow this",
            ),
            StoreError::Denied(Denial::Hidden) => ApiError::not_found("resource"),
            StoreError::InvalidCursor => ApiError::bad_request("the cursor is not one this service gave out"),
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "database unavailable");
                ApiError::new(
                    ProblemKind::ServiceUnavailable,
                    "the database is unavailable; retry shortly",
                )
            }
            other => {
                tracing::error!(error = %other, "internal error");
                ApiError::new(ProblemKind::Internal, "an internal error occurred")
            }
        }
    }
}

/// The problem answers an operation documents, as one `responses(...)` entry.
fn problem_responses(
    statuses: &[ProblemKind],
) -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::response::Response>> {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    statuses
        .iter()
        .map(|kind| {
            let response = ResponseBuilder::new()
                .description(kind.title())
                .content(
                    PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build();
            (kind.status().as_u16().to_string(), response.into())
        })
        .collect()
}

macro_rules! problem_set {
    ($(#[$doc:meta])* $name:ident: $($kind:ident),+) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::response::Response>> {
                problem_responses(&[$(ProblemKind::$kind),+])
            }
        }
    };
}

problem_set!(
    /// What a read of one resource can answer besides 200.
    ReadProblems: BadRequest, Unauthorized, NotFound, TooManyRequests, ServiceUnavailable
);
problem_set!(
    /// What a list can answer besides 200.
    ListProblems: BadRequest, Unauthorized, Forbidden, NotFound, TooManyRequests, ServiceUnavailable
);
problem_set!(
    /// What a write can answer besides its success.
    WriteProblems: MalformedJson, Unauthorized, Forbidden, NotFound, Conflict, PreconditionFailed,
        PayloadTooLarge, UnsupportedMediaType, Validation, TooManyRequests, ServiceUnavailable
);
