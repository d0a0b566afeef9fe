//! planledger's HTTP API: routes, extractors, problem+json, the server, and
//! what the `planledger` binary runs.

pub mod allow;
pub mod auth;
pub mod error;
pub mod extract;
pub mod guard;
pub mod idempotency;
pub mod notifier;
pub mod routes;
pub mod state;
pub mod telemetry;
pub mod webhooks;

use crate::auth::{Authenticator, JwtSettings};
use crate::error::{ApiError, Problem, ProblemKind};
use crate::state::AppState;
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};
use planledger_persistence::Store;
use sha2::{Digest, Sha256};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

/// The demo data: Region Jämtland Härjedalen's plans 2013-2017.
pub const DEMO_DATA: &str = include_str!("../../data/region-jamtland-harjedalen-plans.json");

/// What the server needs besides its store.
#[derive(Clone)]
pub struct Settings {
    pub bind: String,
    pub jwt: JwtSettings,
    pub public_read: bool,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// The origins browsers may call from, exact (`https://plan.example.se`); none: no CORS.
    pub cors_origins: Vec<String>,
    /// Requests per second a caller may make, sustained; 0: no limit.
    pub rate_limit: u32,
    /// Requests a caller may make at once (the bucket size); 0: as many as `rate_limit`.
    pub rate_burst: u32,
    /// Read the client address from `X-Forwarded-For` (behind a trusted proxy).
    pub trust_forwarded: bool,
    /// The webhook delivery worker: retry schedule, poll interval, attempt timeout.
    pub webhooks: webhooks::WebhookSettings,
}

/// The OpenAPI document, generated from the handlers.
pub fn api_doc() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(planledger_openapi::base())
        .configure(routes::configure)
        .split_for_parts();
    let components = doc.components.get_or_insert_with(Default::default);
    let mut schemas = vec![("Problem".to_owned(), <Problem as utoipa::PartialSchema>::schema())];
    <Problem as ToSchema>::schemas(&mut schemas);
    components.schemas.extend(schemas);
    doc
}

/// The OpenAPI document as the committed file holds it: pretty JSON with a final newline.
pub fn api_doc_json() -> String {
    let mut text = api_doc().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

/// What no route answered: a known path with another method is 405 with `Allow`, anything else 404.
async fn no_route(request: actix_web::HttpRequest, allowed: web::Data<allow::AllowedMethods>) -> HttpResponse {
    use actix_web::ResponseError;
    match allowed.for_path(request.path()) {
        Some(methods) => {
            let detail = format!(
                "{} is not allowed on {}; it takes {methods}",
                request.method(),
                request.path()
            );
            let mut response = ApiError::new(ProblemKind::MethodNotAllowed, detail).error_response();
            if let Ok(value) = actix_web::http::header::HeaderValue::from_str(methods) {
                response.headers_mut().insert(actix_web::http::header::ALLOW, value);
            }
            response
        }
        None => ApiError::new(ProblemKind::NotFound, "no such path").error_response(),
    }
}

/// The OpenAPI document as JSON, serialized at start.
struct OpenApiJson(web::Bytes);

async fn openapi_json(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(doc.0.clone())
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", "/docs/"))
        .finish()
}

/// A started server: where it listens, and how to stop it.
pub struct Running {
    pub address: SocketAddr,
    pub handle: ServerHandle,
    pub server: Server,
}

/// Binds the listener and builds the server; `.server` must be awaited (or spawned) to serve.
pub fn start(settings: &Settings, store: Store) -> std::io::Result<Running> {
    let metrics = telemetry::Metrics::new().map_err(std::io::Error::other)?;
    let doc = api_doc();
    // Serialized once and shared by every worker, rather than a copy of the document each.
    let doc_json = web::Bytes::from(serde_json::to_vec(&doc).map_err(std::io::Error::other)?);
    // Kept plan documents are answered only by a build whose API document is the same.
    let store = store.with_document_format(hex::encode(Sha256::digest(&doc_json)));
    let notifier = notifier::EventNotifier::new();
    let store = notifier.attach(store);
    notifier.listen(&store);
    let state = web::Data::new(AppState {
        store,
        authenticator: Authenticator::new(settings.jwt.clone()),
        public_read: settings.public_read,
        body_limit: settings.body_limit,
        metrics,
        notifier,
    });
    let allowed = web::Data::new(allow::AllowedMethods::from_doc(&doc));
    let doc_json = web::Data::new(OpenApiJson(doc_json));
    drop(doc);
    let cors_origins = settings
        .cors_origins
        .iter()
        .map(|origin| guard::parse_origin(origin))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| std::io::Error::new(std::io::ErrorKind::InvalidInput, message))?;
    let rate_limits = web::Data::new(guard::RateLimits::new(
        settings.rate_limit,
        settings.rate_burst,
        settings.trust_forwarded,
    ));
    let listener = TcpListener::bind(&settings.bind)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", settings.bind)))?;
    let address = listener.local_addr()?;
    // The apps hold the worker, so it stops with the server when they are dropped.
    let webhook_worker = web::Data::new(webhooks::spawn(state.store.clone(), settings.webhooks.clone())?);
    let blocking_threads = state.store.max_connections() as usize;
    let server = HttpServer::new(move || {
        // The last wrap is the outermost: telemetry sees every answer, security
        // headers go on all of them, and CORS headers also on a 429.
        App::new()
            .app_data(state.clone())
            .app_data(rate_limits.clone())
            .app_data(webhook_worker.clone())
            .app_data(allowed.clone())
            .app_data(doc_json.clone())
            .app_data(
                web::QueryConfig::default().error_handler(|error, _| ApiError::bad_request(error.to_string()).into()),
            )
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found("resource").into()))
            .wrap(from_fn(idempotency::idempotent_posts))
            .wrap(from_fn(auth::require_token_for_writes))
            .wrap(from_fn(extract::not_modified))
            .wrap(from_fn(guard::limit_rate))
            .wrap(guard::cors(&cors_origins))
            .wrap(from_fn(guard::cors_refusals_as_problems))
            .wrap(from_fn(guard::security_headers))
            .wrap(from_fn(telemetry::observe))
            .into_utoipa_app()
            .configure(routes::configure)
            .into_app()
            .route("/openapi.json", web::get().to(openapi_json))
            .service(SwaggerUi::new("/docs/{_:.*}").config(utoipa_swagger_ui::Config::new(["/openapi.json"])))
            .route("/docs", web::get().to(docs_redirect))
            .default_service(web::to(no_route))
    })
    .listen(listener)?
    // A client gets 5 s to send a request's head and an idle keep-alive connection closes
    // after 30 s, so that slow or silent clients cannot hold connections open; how long the
    // database may take is bounded by the pool and statement timeouts (503).
    .client_request_timeout(Duration::from_secs(5))
    .keep_alive(Duration::from_secs(30))
    .shutdown_timeout(30)
    // Store calls run on each worker's own blocking threads and each needs a connection: more
    // threads in a worker than the pool has connections would only wait for one, each holding
    // its stack and its share of the allocator's memory.
    .worker_max_blocking_threads(blocking_threads)
    .run();
    Ok(Running {
        address,
        handle: server.handle(),
        server,
    })
}
