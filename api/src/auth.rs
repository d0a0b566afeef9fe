//! Bearer tokens: verifying them into a [`Principal`], and issuing them (for
//! the CLI and the demo). The algorithm is pinned to HS256 here; no `alg`
//! in a token header can change it.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use planledger_domain::ids::OrganizationId;
use planledger_domain::permissions::{Principal, Role};
use serde::{Deserialize, Serialize};
use std::future::{ready, Ready};
use std::time::Duration;

/// How tokens are checked.
#[derive(Clone)]
pub struct JwtSettings {
    pub secret: Vec<u8>,
    pub issuer: String,
    pub audience: String,
}

/// The claims planledger reads and writes.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    /// The organization the token acts for (its id).
    pub org: String,
    pub roles: Vec<String>,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
}

pub struct Authenticator {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
    settings: JwtSettings,
}

impl Authenticator {
    pub fn new(settings: JwtSettings) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Self {
            decoding: DecodingKey::from_secret(&settings.secret),
            encoding: EncodingKey::from_secret(&settings.secret),
            validation,
            settings,
        }
    }

    /// Checks a token and reads the principal from it.
    pub fn verify(&self, token: &str) -> Result<Principal, String> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| e.to_string())?;
        let claims = data.claims;
        let organization_id = OrganizationId::parse(&claims.org).ok_or("the org claim is not an organization id")?;
        let roles = claims
            .roles
            .iter()
            .map(|role| Role::parse(role).ok_or_else(|| format!("unknown role {role:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Principal {
            subject: claims.sub,
            organization_id,
            roles,
        })
    }

    /// Issues a token for `organization` with `roles`, valid for `ttl`.
    pub fn issue(
        &self,
        subject: &str,
        organization: &OrganizationId,
        roles: &[Role],
        ttl: Duration,
    ) -> Result<String, String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            org: organization.to_string(),
            roles: roles.iter().map(|role| role.as_str().to_owned()).collect(),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            iat: now,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| e.to_string())
    }
}

/// The verified caller of a request: `None` when it sent no token.
pub struct Auth(pub Option<Principal>);

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(request))
    }
}

fn authenticate(request: &HttpRequest) -> Result<Auth, ApiError> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Ok(Auth(None));
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))?;
    let state = request
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::new(crate::error::ProblemKind::Internal, "application state missing"))?;
    state
        .authenticator
        .verify(token.trim())
        .map(|principal| Auth(Some(principal)))
        .map_err(|reason| ApiError::unauthorized(format!("invalid token: {reason}")))
}
