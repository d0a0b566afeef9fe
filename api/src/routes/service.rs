//! Health, readiness and metrics.

use crate::error::{ApiError, Problem, ProblemKind};
use crate::state::AppState;
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    status: &'static str,
}

/// The process is up.
#[utoipa::path(tag = "service", responses((status = 200, description = "The process is up", body = Status)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Status> {
    web::Json(Status { status: "ok" })
}

/// The database is reachable and migrated.
#[utoipa::path(
    operation_id = "readyz",
    tag = "service",
    responses(
        (status = 200, description = "Ready to serve", body = Status),
        (status = 503, description = "The database is unreachable or not migrated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<web::Json<Status>, ApiError> {
    state
        .run(|store| store.check_ready())
        .await
        .map_err(|error| ApiError::new(ProblemKind::ServiceUnavailable, error.detail.unwrap_or_default()))?;
    Ok(web::Json(Status { status: "ready" }))
}

/// Prometheus metrics: requests and latency by route and status, pool figures, the event-log head.
#[utoipa::path(tag = "service", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let text = web::block({
        let state = state.clone();
        move || state.metrics.render(&state.store)
    })
    .await
    .map_err(|_| ApiError::new(ProblemKind::ServiceUnavailable, "the server is shutting down"))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
