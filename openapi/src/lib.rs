//! The base of planledger's OpenAPI document: info, servers, security
//! schemes and the problem schema. The paths and the resource schemas are
//! collected from the handlers in `api`; the whole document is committed as
//! `openapi/openapi.json`, and a test fails when code and file differ.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDocument;
use utoipa::{Modify, OpenApi};

/// Where the committed document lives, relative to the workspace root.
pub const COMMITTED_PATH: &str = "openapi/openapi.json";

/// The committed document, as text.
pub const COMMITTED: &str = include_str!("../openapi.json");

const DESCRIPTION: &str = include_str!("description.md");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "planledger",
        description = "",
        license(name = "EUPL-1.2", identifier = "EUPL-1.2"),
    ),
    // Relative: the document is served by the service it describes, at whatever address that has.
    servers((url = "/", description = "This service")),
    modifiers(&BaseModifier),
    tags(
        (name = "service", description = "Health, readiness, metrics and this document."),
        (name = "organizations", description = "The region, its municipalities and the rest of the organization tree; the authorization scope."),
        (name = "plans", description = "Action plans (handlingsplaner), their transitions, changelog and history."),
        (name = "goals", description = "Goals (mål) of a plan."),
        (name = "activities", description = "Activities (aktiviteter) under a goal."),
        (name = "events", description = "The gap-free, hash-chained event log."),
        (name = "import", description = "Bulk import of plans in the import format, and the export in it."),
        (name = "reports", description = "Reports for scheduled scripts, as JSON or CSV."),
        (name = "follow-ups", description = "Follow-up reports (uppföljning: delårs- and årsbokslut) and their approval."),
        (name = "indicators", description = "Indicators (mätetal, Öppna jämförelser, Kolada), their values and comparisons."),
        (name = "webhooks", description = "Signed webhook deliveries of the event log."),
        (name = "clients", description = "API clients of municipal systems and their OAuth 2.0 client-credentials tokens."),
    )
)]
struct Base;

struct BaseModifier;

impl Modify for BaseModifier {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        openapi.info.description = Some(DESCRIPTION.trim().to_owned());
        openapi.info.version = env!("CARGO_PKG_VERSION").to_owned();
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT with claims `sub`, `org` (organization id), `roles` (reader, editor, approver, admin), \
                         `iss`, `aud`, `exp`, signed HS256 with the server's secret.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "An API client's `client_id` and `client_secret`, for `/v1/oauth/token` only.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The base document, before the handlers add their paths and schemas.
pub fn base() -> OpenApiDocument {
    Base::openapi()
}
