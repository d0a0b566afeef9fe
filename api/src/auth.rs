//! Bearer tokens: verifying them into a [`Principal`], and issuing them (for
//! the CLI, the demo and API clients).
//!
//! Two kinds of token are accepted, each with its algorithm pinned by
//! configuration, never by the token's header: tokens this service issues
//! (HS256 with the server's secret, `iss` = the configured issuer), and —
//! when a public key is configured — tokens of a region's identity provider
//! (RS256 or ES256, `iss` = the provider's issuer). A token is checked with
//! the key of the issuer it names, so an HS256 token can never pass as the
//! provider's, and the public key is never used as an HMAC secret.

use crate::error::{ApiError, ProblemKind};
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use planledger_domain::client::ApiClient;
use planledger_domain::ids::{ClientId, OrganizationId};
use planledger_domain::permissions::{Principal, Role};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Leeway for `exp` and `nbf`, for clocks that differ a little.
const LEEWAY_SECONDS: u64 = 30;

/// How tokens are checked and issued.
#[derive(Clone)]
pub struct JwtSettings {
    /// HS256 secret: signs the tokens this service issues and checks them.
    pub secret: Vec<u8>,
    /// `iss` of the tokens this service issues.
    pub issuer: String,
    /// `aud` every token must carry.
    pub audience: String,
    /// A region's identity provider whose tokens are accepted too.
    pub identity_provider: Option<IdentityProvider>,
    /// Lifetime of the tokens API clients get from `/v1/oauth/token`.
    pub client_token_ttl: Duration,
}

/// An external token issuer and its public key.
#[derive(Clone)]
pub struct IdentityProvider {
    pub issuer: String,
    pub algorithm: Algorithm,
    key: DecodingKey,
}

impl IdentityProvider {
    /// Reads a PEM public key: RSA keys pin RS256, EC (P-256) keys pin ES256.
    pub fn from_pem(issuer: String, pem: &[u8]) -> Result<Self, String> {
        let (algorithm, key) = match DecodingKey::from_rsa_pem(pem) {
            Ok(key) => (Algorithm::RS256, key),
            Err(_) => match DecodingKey::from_ec_pem(pem) {
                Ok(key) => (Algorithm::ES256, key),
                Err(e) => return Err(format!("the public key is neither an RSA nor an EC PEM key: {e}")),
            },
        };
        Ok(Self { issuer, algorithm, key })
    }
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Set on tokens minted for an API client, so that revoking it ends them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// A verified token: who it is for, and the API client it was minted for, if any.
pub struct VerifiedToken {
    pub principal: Principal,
    pub client_id: Option<ClientId>,
}

pub struct Authenticator {
    own_key: DecodingKey,
    own_validation: Validation,
    provider: Option<(IdentityProvider, Validation)>,
    encoding: EncodingKey,
    settings: JwtSettings,
}

fn validation(algorithm: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECONDS;
    validation
}

impl Authenticator {
    pub fn new(settings: JwtSettings) -> Self {
        let provider = settings.identity_provider.clone().map(|provider| {
            let checks = validation(provider.algorithm, &provider.issuer, &settings.audience);
            (provider, checks)
        });
        Self {
            own_key: DecodingKey::from_secret(&settings.secret),
            own_validation: validation(Algorithm::HS256, &settings.issuer, &settings.audience),
            provider,
            encoding: EncodingKey::from_secret(&settings.secret),
            settings,
        }
    }

    /// Checks a token and reads the principal from it.
    pub fn verify(&self, token: &str) -> Result<Principal, String> {
        self.verify_token(token).map(|verified| verified.principal)
    }

    /// Checks a token with the key of the issuer it names.
    pub fn verify_token(&self, token: &str) -> Result<VerifiedToken, String> {
        #[derive(Deserialize)]
        struct Issuer {
            iss: Option<String>,
        }
        let named = jsonwebtoken::dangerous::insecure_decode_claims::<Issuer>(token)
            .map_err(|e| format!("malformed token: {e}"))?
            .iss;
        let (key, checks) = match &self.provider {
            Some((provider, checks)) if named.as_deref() == Some(provider.issuer.as_str()) => (&provider.key, checks),
            _ => (&self.own_key, &self.own_validation),
        };
        let claims = jsonwebtoken::decode::<Claims>(token, key, checks)
            .map_err(|e| e.to_string())?
            .claims;
        let organization_id = OrganizationId::parse(&claims.org).ok_or("the org claim is not an organization id")?;
        let roles = claims
            .roles
            .iter()
            .map(|role| Role::parse(role).ok_or_else(|| format!("unknown role {role:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        let client_id = match &claims.client_id {
            Some(id) => Some(ClientId::parse(id).ok_or("the client_id claim is not a client id")?),
            None => None,
        };
        Ok(VerifiedToken {
            principal: Principal {
                subject: claims.sub,
                organization_id,
                roles,
            },
            client_id,
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
        self.sign(subject, organization, roles, ttl, None)
    }

    /// Issues the short-lived token of an API client.
    pub fn issue_for_client(&self, client: &ApiClient) -> Result<String, String> {
        let subject = format!("client:{}", client.id);
        self.sign(
            &subject,
            &client.organization_id,
            &client.roles,
            self.settings.client_token_ttl,
            Some(&client.id),
        )
    }

    pub fn client_token_ttl(&self) -> Duration {
        self.settings.client_token_ttl
    }

    fn sign(
        &self,
        subject: &str,
        organization: &OrganizationId,
        roles: &[Role],
        ttl: Duration,
        client: Option<&ClientId>,
    ) -> Result<String, String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            org: organization.to_string(),
            roles: roles.iter().map(|role| role.as_str().to_owned()).collect(),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            exp: now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2)),
            iat: Some(now),
            nbf: None,
            client_id: client.map(ToString::to_string),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| e.to_string())
    }
}

/// The verified caller of a request: `None` when it sent no token.
pub struct Auth(pub Option<Principal>);

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = request.app_data::<web::Data<AppState>>().cloned();
        let verified = authenticate(request);
        Box::pin(async move {
            let Some(verified) = verified? else {
                return Ok(Auth(None));
            };
            if let (Some(client), Some(state)) = (verified.client_id, state) {
                // A revoked client's tokens stop working at once, not when they expire.
                if !state.run(move |store| store.client_is_active(&client)).await? {
                    return Err(ApiError::invalid_token(
                        "the client this token was issued to is revoked",
                    ));
                }
            }
            Ok(Auth(Some(verified.principal)))
        })
    }
}

fn authenticate(request: &HttpRequest) -> Result<Option<VerifiedToken>, ApiError> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::invalid_token("the Authorization header is not text"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))?;
    let state = request
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::new(ProblemKind::Internal, "application state missing"))?;
    state
        .authenticator
        .verify_token(token.trim())
        .map(Some)
        .map_err(|reason| ApiError::invalid_token(format!("invalid token: {reason}")))
}

/// Middleware: every change needs a token, so an anonymous write is answered 401 before its
/// body is read or checked (the token endpoint, which takes client credentials, excepted).
pub async fn require_token_for_writes(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use actix_web::http::Method;
    use actix_web::ResponseError;
    let writes = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let exempt = request.path() == "/v1/oauth/token" || !request.path().starts_with("/v1/");
    if writes && !exempt && !request.headers().contains_key(header::AUTHORIZATION) {
        let response = ApiError::unauthorized("this needs a bearer token").error_response();
        return Ok(request.into_response(response));
    }
    next.call(request)
        .await
        .map(actix_web::dev::ServiceResponse::map_into_boxed_body)
}
