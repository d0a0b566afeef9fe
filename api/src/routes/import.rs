//! `/v1/import/plans`.

use crate::auth::Auth;
use crate::error::{ApiError, ReadProblems, WriteProblems};
use crate::extract::JsonBody;
use crate::state::AppState;
use actix_web::{get, post, web};
use planledger_domain::ids::OrganizationId;
use planledger_domain::import::{read_document, ImportSummary};

/// Imports plans in the import format, all or nothing, idempotently.
#[utoipa::path(
    operation_id = "import_plans",
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

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// The organization whose plans to export.
    #[param(format = "uuid")]
    pub organization_id: String,
}

/// The organization's plans that the caller may read, in the import format: an export
/// imported into an empty installation gives the same plans.
#[utoipa::path(
    operation_id = "export_plans",
    tag = "import",
    params(ExportQuery),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The import format", body = Object), ReadProblems)
)]
#[get("/v1/export/plans")]
pub async fn export_plans(
    state: web::Data<AppState>,
    auth: Auth,
    query: web::Query<ExportQuery>,
) -> Result<web::Json<serde_json::Value>, ApiError> {
    let organization = OrganizationId::parse(&query.organization_id)
        .ok_or_else(|| ApiError::bad_request("organization_id must be an organization id"))?;
    let caller = state.caller(auth);
    Ok(web::Json(
        state
            .run(move |store| store.export_plans(&caller, &organization))
            .await?,
    ))
}
