//! `/v1/clients`: API clients of municipal systems (admin), and
//! `/v1/oauth/token`: their client-credentials grant (RFC 6749 §4.4).

use crate::auth::Auth;
use crate::error::{ApiError, ListProblems, ProblemKind, WriteProblems};
use crate::extract::{created, path_id, with_etag, IfMatch, JsonBody, PageQuery};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use planledger_domain::client::{ApiClient, IssuedClient, NewApiClient};
use planledger_domain::ids::ClientId;
use planledger_persistence::Page;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

list_type!(
    /// A page of API clients.
    ClientList,
    ApiClient
);

/// Registers an API client for an organization (admin in its scope). The secret is in this answer only.
#[utoipa::path(
    operation_id = "create_client",
    tag = "clients",
    request_body = NewApiClient,
    security(("bearer" = [])),
    responses((status = 201, description = "Created, with its secret", body = IssuedClient, headers(("Location" = String))), WriteProblems)
)]
#[post("/v1/clients")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    body: JsonBody<NewApiClient>,
) -> Result<HttpResponse, ApiError> {
    let caller = state.caller(auth);
    let issued = state.run(move |store| store.create_client(&caller, body.0)).await?;
    let mut response = created(
        format!("/v1/clients/{}", issued.client.id),
        issued.client.revision,
        &issued,
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The API clients of the organizations in the admin's scope (never their secrets).
#[utoipa::path(
    operation_id = "list_clients",
    tag = "clients",
    params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of clients", body = ClientList), ListProblems)
)]
#[get("/v1/clients")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    page: web::Query<PageQuery>,
) -> Result<web::Json<ClientList>, ApiError> {
    let page = page.page()?;
    let caller = state.caller(auth);
    Ok(web::Json(
        state.run(move |store| store.clients(&caller, &page)).await?.into(),
    ))
}

/// Revokes an API client: it gets no new tokens, and the tokens it holds stop working at once.
#[utoipa::path(
    operation_id = "revoke_client",
    tag = "clients",
    params(("id" = String, Path, format = "uuid"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    security(("bearer" = [])),
    responses((status = 200, description = "The revoked client", body = ApiClient, headers(("ETag" = String))), WriteProblems)
)]
#[delete("/v1/clients/{id}")]
pub async fn revoke(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, ClientId::parse, "client")?;
    let caller = state.caller(auth);
    let client = state
        .run(move |store| store.revoke_client(&caller, &id, if_match.0))
        .await?;
    Ok(with_etag(client.revision, &client))
}

/// The form of a token request (`application/x-www-form-urlencoded`). A `scope` is ignored: a
/// client's token carries the client's roles.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// Must be `client_credentials` (without it: 400 `invalid_request`; another: 400 `unsupported_grant_type`).
    #[schema(required = true, value_type = String, pattern = "^client_credentials$")]
    pub grant_type: Option<String>,
    /// With `client_secret`, when the client does not use HTTP Basic.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// A successful token answer (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// The client's roles, space-separated.
    pub scope: String,
}

/// A token error (RFC 6749 §5.2), with the problem fields beside the OAuth ones.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenError {
    /// `invalid_request`, `invalid_client` or `unsupported_grant_type`.
    pub error: &'static str,
    pub error_description: String,
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: &'static str,
    pub status: u16,
}

fn token_error(kind: ProblemKind, error: &'static str, description: impl Into<String>, basic: bool) -> HttpResponse {
    let body = TokenError {
        error,
        error_description: description.into(),
        problem_type: format!("/problems/{}", kind.slug()),
        title: kind.title(),
        status: kind.status().as_u16(),
    };
    let mut response = HttpResponse::build(kind.status());
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if kind == ProblemKind::Unauthorized {
        response.insert_header((
            header::WWW_AUTHENTICATE,
            if basic { r#"Basic realm="planledger""# } else { "Basic" },
        ));
    }
    response.json(body)
}

/// Why credentials were refused, to be answered by [`token_error`].
struct Refusal {
    kind: ProblemKind,
    error: &'static str,
    description: &'static str,
    basic: bool,
}

/// The client's credentials, from HTTP Basic or the form (RFC 6749 §2.3.1), never both.
fn credentials(request: &HttpRequest, form: &TokenRequest) -> Result<(String, String, bool), Refusal> {
    let invalid = |description| {
        Err(Refusal {
            kind: ProblemKind::BadRequest,
            error: "invalid_request",
            description,
            basic: false,
        })
    };
    let basic = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    match (basic, &form.client_id, &form.client_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            invalid("send the client credentials either with HTTP Basic or in the form, not both")
        }
        (Some(encoded), None, None) => {
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok());
            match decoded.as_deref().and_then(|text| text.split_once(':')) {
                Some((id, secret)) => Ok((id.to_owned(), secret.to_owned(), true)),
                None => Err(Refusal {
                    kind: ProblemKind::Unauthorized,
                    error: "invalid_client",
                    description: "the Basic credentials are malformed",
                    basic: true,
                }),
            }
        }
        (None, Some(id), Some(secret)) => Ok((id.clone(), secret.clone(), false)),
        // RFC 6749 §5.2: a request without client authentication is `invalid_client`, not `invalid_request`.
        _ => Err(Refusal {
            kind: ProblemKind::Unauthorized,
            error: "invalid_client",
            description: "client authentication is required: HTTP Basic, or client_id and client_secret in the form",
            basic: false,
        }),
    }
}

/// Exchanges an API client's credentials for a short-lived bearer token (OAuth 2.0 client credentials).
#[utoipa::path(
    operation_id = "issue_client_token",
    tag = "clients",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "The token", body = TokenResponse),
        (status = 400, description = "invalid_request or unsupported_grant_type", body = TokenError),
        (status = 401, description = "invalid_client: no client authentication, unknown client, wrong secret or revoked", body = TokenError),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/oauth/token")]
pub async fn token(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if body.len() > state.body_limit {
        return Err(ApiError::new(ProblemKind::PayloadTooLarge, "the body is too large"));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Ok(token_error(
            ProblemKind::BadRequest,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
            false,
        ));
    }
    let text = std::str::from_utf8(&body).unwrap_or("\u{fffd}");
    let form = match web::Query::<TokenRequest>::from_query(text) {
        Ok(form) => form.into_inner(),
        Err(e) => {
            return Ok(token_error(
                ProblemKind::BadRequest,
                "invalid_request",
                e.to_string(),
                false,
            ))
        }
    };
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(other) => {
            return Ok(token_error(
                ProblemKind::BadRequest,
                "unsupported_grant_type",
                format!("grant_type {other:?} is not supported; use client_credentials"),
                false,
            ))
        }
        None => {
            return Ok(token_error(
                ProblemKind::BadRequest,
                "invalid_request",
                "grant_type is required",
                false,
            ))
        }
    }
    let (client_id, secret, basic) = match credentials(&request, &form) {
        Ok(credentials) => credentials,
        Err(refusal) => {
            return Ok(token_error(
                refusal.kind,
                refusal.error,
                refusal.description,
                refusal.basic,
            ))
        }
    };
    let Some(client) = state
        .run(move |store| store.authenticate_client(&client_id, &secret))
        .await?
    else {
        return Ok(token_error(
            ProblemKind::Unauthorized,
            "invalid_client",
            "unknown client, wrong secret, or revoked",
            basic,
        ));
    };
    let access_token = state
        .authenticator
        .issue_for_client(&client)
        .map_err(|e| ApiError::new(ProblemKind::Internal, e))?;
    let response = TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.authenticator.client_token_ttl().as_secs(),
        scope: client
            .roles
            .iter()
            .map(|role| role.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(response))
}
