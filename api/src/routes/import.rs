//! `/v1/import/plans`.

use crate::auth::Auth;
use crate::error::{ApiError, ReadProblems, WriteProblems};
use crate::extract::JsonBody;
use crate::state::AppState;
use actix_web::{get, post, web};
use planledger_domain::ids::OrganizationId;
use planledger_domain::import::{read_document, ImportSummary};

/// The import format, as `POST /v1/import/plans` reads it and `GET /v1/export/plans` writes it.
/// Any field but the titles and the organization may be null or left out; other fields are ignored.
pub struct ImportFile;

impl utoipa::PartialSchema for ImportFile {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use planledger_domain::activity::ActivityStatus;
        use planledger_domain::goal::{GoalStatus, TargetUnit};
        use planledger_domain::organization::OrganizationKind;
        use planledger_domain::plan::PlanStatus;
        use serde_json::json;
        let words = |names: Vec<&'static str>| json!({"type": ["string", "null"], "enum": names.into_iter().map(Some).chain([None]).collect::<Vec<_>>()});
        // Texts as the rules of plans, goals and activities bound them (MAX_SHORT, MAX_TEXT).
        let short = json!({"type": ["string", "null"], "maxLength": 500});
        let long = json!({"type": ["string", "null"], "maxLength": 20_000});
        let title = json!({"type": "string", "pattern": "\\S", "maxLength": 500});
        let date = json!({"type": ["string", "null"], "format": "date", "pattern": "^[1-9]"});
        let year = json!({"type": ["integer", "null"], "minimum": 1900, "maximum": 2200});
        let target = json!({"type": "object", "properties": {
            "period": {"type": ["string", "integer", "null"], "maxLength": 500},
            "value": {"type": ["number", "null"]},
            "unit": words(TargetUnit::ALL.iter().map(|unit| unit.as_str()).collect()),
            "text": long,
        }});
        let targets = json!({"type": ["array", "null"], "items": target});
        let activity = json!({"type": "object", "required": ["title"], "properties": {
            "title": title, "target_group": long, "measure": long, "targets": targets,
            "start_year": year, "end_year": year, "timeline": short, "due_date": date,
            "responsible_execution": short, "responsible_followup": short,
            "status": words(ActivityStatus::ALL.iter().map(|status| status.as_str()).collect()),
            "comment": long,
        }});
        let goal = json!({"type": "object", "required": ["title"], "properties": {
            "number": short, "title": title, "reference": long,
            "status": words(GoalStatus::ALL.iter().map(|status| status.as_str()).collect()),
            "targets": targets,
            "activities": {"type": ["array", "null"], "items": activity},
        }});
        let plan = json!({"type": "object", "required": ["title"], "properties": {
            "title": title, "diary_number": short, "document_version": short,
            "period_start": date, "period_end": date, "owner": short, "summary": long,
            "perspectives": {"type": ["object", "null"], "properties": {
                "gender_equality": long, "children": long, "environment": long, "consequences": long}},
            "status": words(PlanStatus::ALL.iter().map(|status| status.as_str()).collect()),
            "decision": {"type": ["object", "null"], "properties": {"decided_by": short, "decided_on": date, "note": long}},
            "background_decisions": {"type": ["array", "null"], "items": {"type": "string", "maxLength": 20_000}},
            "changelog": {"type": ["array", "null"], "items": {"type": "object", "properties": {
                "document_version": short, "date": date, "change": long, "decided_by": short, "decided_on": date}}},
            "goals": {"type": ["array", "null"], "items": goal},
        }});
        // `national` (the root, Sverige) appears in an export of the root; an import refuses it (422).
        let kinds: Vec<&str> = OrganizationKind::ALL.iter().map(|kind| kind.as_str()).collect();
        let file = json!({
            "type": "object",
            "description": "The import format: the organization the plans belong to (matched by `code`, else by `name` and `kind`) and its plans, each with its goals and their activities.",
            "required": ["organization", "plans"],
            "properties": {
                "organization": {"type": "object", "required": ["name", "kind"],
                    "description": "Plans are imported for a region, municipality or other body: `kind` `national` (the root) is only ever exported.",
                    "properties": {
                    "name": title, "kind": {"type": "string", "enum": kinds}, "code": {"type": ["string", "null"], "pattern": "\\S", "maxLength": 500}}},
                "plans": {"type": "array", "items": plan},
            },
        });
        serde_json::from_value(file).unwrap_or_else(|_| utoipa::openapi::schema::Object::new().into())
    }
}

impl utoipa::ToSchema for ImportFile {}

/// Imports plans in the import format, all or nothing, idempotently.
#[utoipa::path(
    operation_id = "import_plans",
    tag = "import",
    request_body(content = ImportFile, description = "The import format: `{\"organization\": {...}, \"plans\": [...]}`"),
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
    responses((status = 200, description = "The import format", body = ImportFile), ReadProblems)
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
