//! What guards the API at its edge: CORS for browser frontends, security
//! headers on every answer, and per-caller rate limits (429 with `Retry-After`).

use crate::error::ApiError;
use crate::state::AppState;
use actix_cors::{Cors, CorsError};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::{Condition, Next};
use actix_web::{web, Error, HttpResponse, ResponseError};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

/// Paths that load balancers and scrapers poll: never rate limited.
const UNLIMITED_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: usize = 3600;

/// Every this many checks the limiter forgets callers whose buckets are full again.
const FORGET_EVERY: u64 = 4096;

/// Checks one configured CORS origin and answers it as browsers send it:
/// `scheme://host[:port]`, no path, no trailing slash.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let origin = text.trim().trim_end_matches('/');
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("CORS origin {text:?} must start with https:// or http://"))?;
    let malformed = rest.is_empty()
        || rest
            .chars()
            .any(|c| matches!(c, '/' | '?' | '#' | '*' | '@') || c.is_whitespace() || c.is_control());
    if malformed {
        return Err(format!(
            "CORS origin {text:?} must be exactly scheme://host[:port], e.g. https://plan.example.se"
        ));
    }
    Ok(origin.to_owned())
}

/// Reads a comma-separated list of CORS origins; an empty list allows none.
pub fn parse_origins(text: &str) -> Result<Vec<String>, String> {
    text.split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(parse_origin)
        .collect()
}

/// CORS for the configured origins, off (no CORS headers at all) when there are none.
///
/// The origins must have passed [`parse_origin`]: actix-cors fails the whole
/// worker on an origin it cannot read.
pub fn cors(origins: &[String]) -> Condition<Cors> {
    let mut cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            HeaderName::from_static("x-request-id"),
        ])
        .max_age(PREFLIGHT_MAX_AGE);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    Condition::new(!origins.is_empty(), cors)
}

/// Middleware: a refused preflight (origin, method or header not allowed)
/// answered as a 400 problem rather than actix-cors' plain text.
pub async fn cors_refusals_as_problems<B: MessageBody + 'static>(
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let response = next.call(request).await?;
    let Some(refusal) = response
        .response()
        .error()
        .and_then(|error| error.as_error::<CorsError>())
    else {
        return Ok(response.map_into_left_body());
    };
    let mut problem = ApiError::bad_request(format!("CORS: {refusal}")).error_response();
    let (request, refused) = response.into_parts();
    if let Some(vary) = refused.headers().get(header::VARY) {
        problem.headers_mut().insert(header::VARY, vary.clone());
    }
    Ok(ServiceResponse::new(request, problem).map_into_right_body())
}

/// Middleware: security headers on every answer, errors included.
pub async fn security_headers(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let scope = Scope::of(request.path());
    match next.call(request).await {
        Ok(mut response) => {
            add_security_headers(response.headers_mut(), scope);
            Ok(response)
        }
        Err(mut error) => {
            error.add_response_mapper(move |mut response: HttpResponse| {
                add_security_headers(response.headers_mut(), scope);
                response
            });
            Err(error)
        }
    }
}

/// Which part of the service a path is in, for the headers it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// `/v1/…`: JSON answers that no cache should keep.
    Api,
    /// `/docs/…`: the Swagger UI page, which runs its own scripts and styles.
    Docs,
    Other,
}

impl Scope {
    fn of(path: &str) -> Scope {
        if path == "/v1" || path.starts_with("/v1/") {
            Scope::Api
        } else if path == "/docs" || path.starts_with("/docs/") {
            Scope::Docs
        } else {
            Scope::Other
        }
    }
}

fn add_security_headers(headers: &mut HeaderMap, scope: Scope) {
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Nothing but the docs page is a document a browser should render or run.
    if scope != Scope::Docs && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    if scope == Scope::Api && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Who a request counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum CallerKey {
    /// A valid bearer token: its subject within its organization.
    Token { subject: String, organization: String },
    /// No valid token: the client address (an IPv6 client by its /64).
    Address(IpAddr),
}

/// The per-caller token buckets; none when rate limiting is off.
pub struct RateLimits {
    limiter: Option<DefaultKeyedRateLimiter<CallerKey>>,
    trust_forwarded: bool,
    checks: AtomicU64,
}

impl RateLimits {
    /// `per_second` sustained with bursts of `burst` (0: as many as `per_second`);
    /// a `per_second` of 0 turns limiting off.
    pub fn new(per_second: u32, burst: u32, trust_forwarded: bool) -> RateLimits {
        let limiter = NonZeroU32::new(per_second).map(|per_second| {
            let burst = NonZeroU32::new(burst).unwrap_or(per_second);
            DefaultKeyedRateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst))
        });
        RateLimits {
            limiter,
            trust_forwarded,
            checks: AtomicU64::new(0),
        }
    }

    /// Whether requests to `path` are counted at all.
    fn applies_to(&self, path: &str) -> bool {
        self.limiter.is_some() && !UNLIMITED_PATHS.contains(&path)
    }

    /// Takes one request from the caller's bucket, or says how long until one is there.
    fn check(&self, key: &CallerKey) -> Result<(), std::time::Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            // A caller whose bucket is full again is the same as one never seen.
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }
}

/// Middleware: 429 problem with `Retry-After` for a caller over its rate, by
/// the [`RateLimits`] in the app data.
pub async fn limit_rate<B: MessageBody + 'static>(
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let limits = request.app_data::<web::Data<RateLimits>>().cloned();
    let Some(limits) = limits.filter(|limits| limits.applies_to(request.path())) else {
        return Ok(next.call(request).await?.map_into_left_body());
    };
    let key = caller_key(&request, limits.trust_forwarded);
    match limits.check(&key) {
        Ok(()) => Ok(next.call(request).await?.map_into_left_body()),
        Err(wait) => {
            tracing::debug!(?key, wait_ms = wait.as_millis(), "rate limited");
            Ok(request
                .error_response(ApiError::too_many_requests(wait))
                .map_into_right_body())
        }
    }
}

fn caller_key(request: &ServiceRequest, trust_forwarded: bool) -> CallerKey {
    let principal = bearer_token(request.headers()).and_then(|token| {
        request
            .app_data::<web::Data<AppState>>()
            .and_then(|state| state.authenticator.verify(token).ok())
    });
    if let Some(principal) = principal {
        return CallerKey::Token {
            subject: principal.subject,
            organization: principal.organization_id.to_string(),
        };
    }
    let forwarded = trust_forwarded.then(|| forwarded_for(request.headers())).flatten();
    let address = forwarded
        .or_else(|| request.peer_addr().map(|peer| peer.ip()))
        .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    CallerKey::Address(address_key(address))
}

/// The token of `Authorization: Bearer <token>`, read as the `Auth` extractor reads it.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
}

/// The address the proxy in front of us saw: the last `X-Forwarded-For`
/// entry, the one it appended (the entries before it are the client's word).
fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers
        .get_all(HeaderName::from_static("x-forwarded-for"))
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .last()?;
    last.parse::<IpAddr>()
        .ok()
        .or_else(|| last.parse::<std::net::SocketAddr>().ok().map(|address| address.ip()))
}

/// IPv4 as is; IPv6 by its /64, since one client is commonly given a whole /64.
fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_read_as_browsers_send_them() {
        assert_eq!(
            parse_origins(" http://localhost:5173/ , https://plan.example.se,"),
            Ok(vec![
                "http://localhost:5173".to_owned(),
                "https://plan.example.se".to_owned()
            ])
        );
        assert_eq!(parse_origins(""), Ok(vec![]));
        assert!(parse_origin("*").is_err());
        assert!(parse_origin("localhost:5173").is_err());
        assert!(parse_origin("https://plan.example.se/app").is_err());
    }

    #[test]
    fn the_last_forwarded_address_counts() {
        let mut headers = HeaderMap::new();
        headers.append(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_static("203.0.113.9, 198.51.100.7"),
        );
        assert_eq!(forwarded_for(&headers), "198.51.100.7".parse().ok());
        headers.append(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_static("192.0.2.1:4711"),
        );
        assert_eq!(forwarded_for(&headers), "192.0.2.1".parse().ok());
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("address");
        let other: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("address");
        assert_eq!(address_key(one), address_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("address");
        assert_eq!(address_key(mapped), "192.0.2.1".parse::<IpAddr>().expect("address"));
    }

    #[test]
    fn a_zero_rate_means_no_limit() {
        let key = CallerKey::Address("192.0.2.1".parse().expect("address"));
        let off = RateLimits::new(0, 100, false);
        assert!(!off.applies_to("/v1/plans"));
        assert!((0..1000).all(|_| off.check(&key).is_ok()));
        let limits = RateLimits::new(1, 2, false);
        assert!(limits.applies_to("/v1/plans"));
        assert!(!limits.applies_to("/healthz"));
        assert!(limits.check(&key).is_ok());
        assert!(limits.check(&key).is_ok());
        assert!(limits.check(&key).is_err());
    }
}
