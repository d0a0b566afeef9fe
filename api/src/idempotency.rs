//! Middleware for `Idempotency-Key` on POST: a repeat with the same key and
//! request gets the first answer again, not a second change; the same key
//! with another request is 422; a repeat while the first is still running is
//! 409. Keys belong to the caller (a token's subject and organization) and
//! are kept for 24 hours.

use crate::error::{ApiError, ProblemKind};
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{web, HttpMessage, HttpResponse, ResponseError};
use futures_util::StreamExt;
use planledger_domain::validation::FieldError;
use planledger_persistence::{KeyClaim, StoredResponse};
use sha2::{Digest, Sha256};

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const REPLAYED: HeaderName = HeaderName::from_static("idempotency-replayed");
/// Headers of the first answer that a replay repeats.
const KEPT_HEADERS: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::ETAG,
    header::CACHE_CONTROL,
];

fn refuse(request: ServiceRequest, error: ApiError) -> ServiceResponse<BoxBody> {
    request.into_response(error.error_response())
}

pub async fn idempotent_posts(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = match request.headers().get(&IDEMPOTENCY_KEY) {
        Some(value) if request.method() == Method::POST => value.to_str().unwrap_or("\u{0}").to_owned(),
        _ => return next.call(request).await.map(ServiceResponse::map_into_boxed_body),
    };
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        let error = ApiError::bad_request("Idempotency-Key must be 1 to 255 printable ASCII characters");
        return Ok(refuse(request, error));
    }
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(request).await.map(ServiceResponse::map_into_boxed_body);
    };
    // Keys are the caller's own; a request without a valid token is refused by its handler anyway.
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| state.authenticator.verify(token.trim()).ok());
    let Some(principal) = token else {
        return next.call(request).await.map(ServiceResponse::map_into_boxed_body);
    };
    let caller = format!("{}|{}", principal.organization_id, principal.subject);

    let mut payload = request.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return Ok(refuse(request, ApiError::bad_request("could not read the body")));
        };
        if body.len() + chunk.len() > state.body_limit {
            let error = ApiError::new(
                ProblemKind::PayloadTooLarge,
                format!("the body may be at most {} bytes", state.body_limit),
            );
            return Ok(refuse(request, error));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let fingerprint = {
        let mut hasher = Sha256::new();
        for part in [request.method().as_str(), request.path(), request.query_string()] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        hasher.update(&body);
        hex::encode(hasher.finalize())
    };
    request.set_payload(actix_web::dev::Payload::from(body));

    let claim = {
        let (caller, key, fingerprint) = (caller.clone(), key.clone(), fingerprint);
        state
            .run(move |store| store.claim_idempotency_key(&caller, &key, &fingerprint))
            .await
    };
    match claim {
        Err(error) => Ok(refuse(request, error)),
        Ok(KeyClaim::Mismatch) => Ok(refuse(
            request,
            ApiError::validation(vec![FieldError::new(
                "Idempotency-Key",
                "was used with another request; use a new key for a new request",
            )]),
        )),
        Ok(KeyClaim::InFlight) => Ok(refuse(
            request,
            ApiError::new(
                ProblemKind::Conflict,
                "a request with this Idempotency-Key is still being processed",
            ),
        )),
        Ok(KeyClaim::Replay(stored)) => {
            let mut response = HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK));
            for (name, value) in &stored.headers {
                response.insert_header((name.as_str(), value.as_str()));
            }
            response.insert_header((REPLAYED, "true"));
            Ok(request.into_response(response.body(stored.body)))
        }
        Ok(KeyClaim::Proceed) => {
            let response = next.call(request).await?;
            let (http_request, response) = response.into_parts();
            let status = response.status();
            let (head, body) = response.into_parts();
            let bytes = actix_web::body::to_bytes(body).await.unwrap_or_else(|_| Bytes::new());
            let result = if status.is_server_error() {
                // Nothing was done, or it is unknown what: let the client retry with the same key.
                state
                    .run(move |store| store.release_idempotency_key(&caller, &key))
                    .await
            } else {
                let stored = StoredResponse {
                    status: status.as_u16(),
                    headers: KEPT_HEADERS
                        .iter()
                        .filter_map(|name| {
                            let value = head.headers().get(name)?.to_str().ok()?;
                            Some((name.as_str().to_owned(), value.to_owned()))
                        })
                        .collect(),
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                };
                state
                    .run(move |store| store.finish_idempotent(&caller, &key, &stored))
                    .await
            };
            if let Err(error) = result {
                tracing::warn!(%error, "could not keep the answer of an idempotent request");
            }
            let response = head.set_body(BoxBody::new(bytes));
            Ok(ServiceResponse::new(http_request, response))
        }
    }
}
