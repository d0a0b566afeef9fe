//! The short pages that problem `type`s point to.

use crate::error::{ApiError, ProblemKind};
use actix_web::{get, web, HttpResponse};

/// A short page on a problem type.
#[utoipa::path(
    operation_id = "problem_page",
    tag = "service",
    params(("slug" = String, Path, description = "The problem type, e.g. `validation`")),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/plain"),
        (status = 404, description = "No such problem type", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/problems/{slug}")]
pub async fn page(slug: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let kind = ProblemKind::from_slug(&slug).ok_or_else(|| ApiError::not_found("problem type"))?;
    let text = format!(
        "{} ({} {})\n\n{}\n",
        kind.title(),
        kind.status().as_u16(),
        kind.status().canonical_reason().unwrap_or_default(),
        kind.explanation()
    );
    Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(text))
}
