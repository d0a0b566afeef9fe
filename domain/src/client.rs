//! API clients: machine clients of an organization that get short-lived
//! tokens through the OAuth 2.0 client-credentials grant.

use crate::ids::{ClientId, OrganizationId};
use crate::permissions::Role;
use crate::validation::{Errors, MAX_TITLE};
use crate::DomainError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An API client as the API shows it; its secret is never shown again after creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiClient {
    /// The client's id, also its OAuth `client_id`.
    pub id: ClientId,
    pub organization_id: OrganizationId,
    #[cfg_attr(feature = "openapi", schema(example = "Krokoms kommun – verksamhetssystem"))]
    pub name: String,
    /// The roles its tokens carry.
    pub roles: Vec<Role>,
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when the client was revoked; a revoked client gets no tokens and its tokens stop working.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Body of `POST /v1/clients`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewApiClient {
    pub organization_id: OrganizationId,
    #[cfg_attr(feature = "openapi", schema(pattern = r"\S", max_length = 500))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub roles: Vec<Role>,
}

impl NewApiClient {
    pub fn into_client(self, now: DateTime<Utc>) -> Result<ApiClient, DomainError> {
        let mut errors = Errors::new();
        errors.require_text("name", &self.name, MAX_TITLE);
        if self.roles.is_empty() {
            errors.add("roles", "must name at least one role");
        }
        errors.finish()?;
        let mut roles = self.roles;
        roles.sort();
        roles.dedup();
        Ok(ApiClient {
            id: ClientId::generate(),
            organization_id: self.organization_id,
            name: self.name.trim().to_owned(),
            roles,
            revision: 1,
            created_at: now,
            updated_at: now,
            revoked_at: None,
        })
    }
}

impl ApiClient {
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    /// Revokes the client; revoking twice is a conflict.
    pub fn revoke(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.is_revoked() {
            return Err(DomainError::Conflict("the client is already revoked".into()));
        }
        self.revoked_at = Some(now);
        Ok(())
    }
}

/// The answer of `POST /v1/clients`: the client and its secret, shown this once.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssuedClient {
    #[serde(flatten)]
    pub client: ApiClient,
    /// The OAuth `client_id` (the same as `id`).
    pub client_id: ClientId,
    /// The OAuth `client_secret`. Store it now: it is kept only as a hash and never shown again.
    pub client_secret: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(roles: Vec<Role>) -> NewApiClient {
        NewApiClient {
            organization_id: OrganizationId::root(),
            name: "Verksamhetssystem".into(),
            roles,
        }
    }

    #[test]
    fn a_client_needs_a_role_and_keeps_each_once() {
        assert!(new(vec![]).into_client(Utc::now()).is_err());
        let client = new(vec![Role::Editor, Role::Reader, Role::Editor])
            .into_client(Utc::now())
            .expect("valid");
        assert_eq!(client.roles, [Role::Reader, Role::Editor]);
    }

    #[test]
    fn a_client_is_revoked_once() {
        let mut client = new(vec![Role::Reader]).into_client(Utc::now()).expect("valid");
        client.revoke(Utc::now()).expect("first revocation");
        assert!(client.is_revoked());
        assert!(client.revoke(Utc::now()).is_err());
    }
}
