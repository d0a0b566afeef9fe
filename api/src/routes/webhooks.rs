//! `/v1/webhooks`: subscriptions to the event log, delivered per the Standard
//! Webhooks spec by the worker in [`crate::webhooks`] (admin).

use crate::auth::Auth;
use crate::error::{ApiError, ListProblems, ReadProblems, WriteProblems};
use crate::extract::{created, path_id, with_tag, IfMatch, JsonBody, PageQuery};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpResponse};
use planledger_domain::webhook::{IssuedWebhook, NewWebhook, ReplayRequest, Webhook, WebhookDelivery, WebhookId};
use planledger_persistence::Page;
use serde::Serialize;
use utoipa::ToSchema;

list_type!(
    /// A page of webhook subscriptions.
    WebhookList,
    Webhook
);

list_type!(
    /// A page of delivery attempts, newest first.
    DeliveryList,
    WebhookDelivery
);

/// A subscription with its `ETag`: the revision, and the delivery state that moves without one
/// (cursor and failed attempts), so that a revalidation never answers 304 for a stale state.
fn with_state_tag(webhook: &Webhook) -> HttpResponse {
    let tag = format!(
        "\"{}.{}.{}\"",
        webhook.revision, webhook.last_delivered_seq, webhook.failed_attempts
    );
    with_tag(tag, webhook)
}

/// Subscribes a URL to the event log of an organization's read scope (admin in the
/// organization's scope). Each matching event after this one is `POST`ed to the URL as the JSON
/// `GET /v1/events` shows, signed per Standard Webhooks (`webhook-id`: the event id,
/// `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`
/// keyed with the base64-decoded secret after `whsec_`), at least once and in seq order; failures
/// are retried on the Standard Webhooks schedule with ±20 % jitter (a longer `Retry-After` on
/// 429 and 503 wins), and the subscription is disabled when the schedule runs out or the
/// receiver answers 410 Gone. The secret is in this answer only.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "create_webhook",
    request_body = NewWebhook,
    security(("bearer" = [])),
    responses((status = 201, description = "Created, with its secret", body = IssuedWebhook, headers(("Location" = String))), WriteProblems)
)]
#[post("/v1/webhooks")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    body: JsonBody<NewWebhook>,
) -> Result<HttpResponse, ApiError> {
    let caller = state.caller(auth);
    let issued = state.run(move |store| store.create_webhook(&caller, body.0)).await?;
    let mut response = created(
        format!("/v1/webhooks/{}", issued.webhook.id),
        issued.webhook.revision,
        &issued,
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The subscriptions of the organizations the admin administers (never their secrets).
#[utoipa::path(
    tag = "webhooks",
    operation_id = "list_webhooks",
    params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of subscriptions", body = WebhookList), ListProblems)
)]
#[get("/v1/webhooks")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    page: web::Query<PageQuery>,
) -> Result<web::Json<WebhookList>, ApiError> {
    let page = page.page()?;
    let caller = state.caller(auth);
    Ok(web::Json(
        state.run(move |store| store.webhooks(&caller, &page)).await?.into(),
    ))
}

/// One subscription, with its delivery state: the cursor, failed attempts at the next event,
/// when the next attempt is due, and why it was disabled.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "get_webhook",
    params(("id" = String, Path, format = "uuid")),
    security(("bearer" = [])),
    responses((status = 200, description = "The subscription", body = Webhook, headers(("ETag" = String))), ReadProblems)
)]
#[get("/v1/webhooks/{id}")]
pub async fn get(state: web::Data<AppState>, auth: Auth, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, WebhookId::parse, "webhook")?;
    let caller = state.caller(auth);
    let webhook = state.run(move |store| store.webhook(&caller, &id)).await?;
    Ok(with_state_tag(&webhook))
}

/// Deletes a subscription: deliveries stop at once (an attempt under way finishes, and moves
/// nothing), and the API no longer shows it.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "delete_webhook",
    params(("id" = String, Path, format = "uuid"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), WriteProblems)
)]
#[delete("/v1/webhooks/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, WebhookId::parse, "webhook")?;
    let caller = state.caller(auth);
    state
        .run(move |store| store.delete_webhook(&caller, &id, if_match.0))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Delivers again every matching event after `after`: the cursor is set there, failed attempts
/// are forgotten, and a disabled subscription becomes active.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "replay_webhook",
    params(("id" = String, Path, format = "uuid"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    request_body = ReplayRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "The subscription with its new cursor", body = Webhook, headers(("ETag" = String))), WriteProblems)
)]
#[post("/v1/webhooks/{id}/replay")]
pub async fn replay(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: JsonBody<ReplayRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, WebhookId::parse, "webhook")?;
    let caller = state.caller(auth);
    let after = body.0.after;
    let webhook = state
        .run(move |store| store.replay_webhook(&caller, &id, after, if_match.0))
        .await?;
    Ok(with_state_tag(&webhook))
}

/// The subscription's delivery attempts, newest first: the event (seq and id), the attempt's
/// number, when it started and how long it took, the receiver's status or the error, and when the
/// next attempt is due after a failure.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    params(("id" = String, Path, format = "uuid"), PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of attempts", body = DeliveryList), ListProblems)
)]
#[get("/v1/webhooks/{id}/deliveries")]
pub async fn deliveries(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<DeliveryList>, ApiError> {
    let id = path_id(&id, WebhookId::parse, "webhook")?;
    let page = page.page()?;
    let caller = state.caller(auth);
    Ok(web::Json(
        state
            .run(move |store| store.webhook_deliveries(&caller, &id, &page))
            .await?
            .into(),
    ))
}
