//! `/v1/import/plans`.

use crate::auth::Auth;
use crate::error::{ApiError, WriteProblems};
use crate::extract::JsonBody;
use crate::state::AppState;
use actix_web::{post, web};
use planledger_domain::import::{read_document, ImportSummary};

/// Imports plans in the import format, all or nothing, idempotently.
#[utoipa::path(
    tag = "import",
    request_body(content = Object, description = "The import format: `{\"organization\": {...}, \"plans\": [...]}`"),
    security(("bearer" = [])),
    responses((status = 200, description = "What was created and what was already there", body = ImportSummary), WriteProblems)
)]
#[post("/v1/import/plans")]
pub async fn import_plans(
    state: web::Data<AppState>,
    auth: Auth,
    body: JsonBody<serde_json::Value>,
) -> Result<web::Json<ImportSummary>, ApiError> {
    let document = read_document(&body.0).map_err(ApiError::validation)?;
    let caller = state.caller(auth);
    Ok(web::Json(
        state.run(move |store| store.import_plans(&caller, document)).await?,
    ))
}
