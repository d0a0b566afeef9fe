//! API clients: registration by an admin, the client-credentials check, and
//! revocation — each write with its event. Secrets are kept only as SHA-256.

use crate::access::{self, Caller, ListScope};
use crate::db::{DbConnection, Store};
use crate::error::StoreError;
use crate::organizations::{self, check_revision};
use crate::pagination::{Page, PageRequest};
use crate::rows::utc;
use crate::schema::api_clients;
use crate::work::{About, Work};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use planledger_domain::client::{ApiClient, IssuedClient, NewApiClient};
use planledger_domain::events::{EntityType, EventAction};
use planledger_domain::ids::{ClientId, OrganizationId};
use planledger_domain::permissions::{Action, Denial, Role, Visibility};
use serde_json::json;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = api_clients, treat_none_as_null = true)]
struct ClientRow {
    id: String,
    organization_id: String,
    name: String,
    roles: String,
    secret_hash: String,
    revision: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    revoked_at: Option<NaiveDateTime>,
}

impl ClientRow {
    fn from_domain(client: &ApiClient, secret_hash: String) -> Result<Self, StoreError> {
        Ok(Self {
            id: client.id.to_string(),
            organization_id: client.organization_id.to_string(),
            name: client.name.clone(),
            roles: serde_json::to_string(&client.roles)?,
            secret_hash,
            revision: client.revision,
            created_at: client.created_at.naive_utc(),
            updated_at: client.updated_at.naive_utc(),
            revoked_at: client.revoked_at.map(|at| at.naive_utc()),
        })
    }

    fn into_domain(self) -> Result<ApiClient, StoreError> {
        Ok(ApiClient {
            id: ClientId::from_stored(self.id),
            organization_id: OrganizationId::from_stored(self.organization_id),
            name: self.name,
            roles: serde_json::from_str(&self.roles)?,
            revision: self.revision,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
            revoked_at: self.revoked_at.map(utc),
        })
    }
}

/// The stored form of a secret.
fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new secret: 244 random bits from two version-4 UUIDs, with a prefix that says what it is.
fn new_secret() -> String {
    format!("plc_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

fn load_row(conn: &mut DbConnection, id: &str) -> Result<Option<ClientRow>, StoreError> {
    Ok(api_clients::table
        .find(id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?)
}

fn about(client: &ApiClient) -> About<'_> {
    About {
        entity: EntityType::ApiClient,
        id: client.id.as_str(),
        organization_id: Some(&client.organization_id),
        plan_id: None,
    }
}

impl Store {
    /// Registers a client (admin in the organization's scope) and answers its secret, this once.
    pub fn create_client(&self, caller: &Caller, new: NewApiClient) -> Result<IssuedClient, StoreError> {
        self.write(|conn| {
            let client = new.into_client(crate::now())?;
            if organizations::load(conn, &client.organization_id)?.is_none() {
                return Err(StoreError::invalid("organization_id", "is not a known organization"));
            }
            let target = access::target(conn, &client.organization_id, Visibility::Directory)?;
            caller.authorize(Action::Administer, &target, "organization")?;
            let secret = new_secret();
            diesel::insert_into(api_clients::table)
                .values(ClientRow::from_domain(&client, hash_secret(&secret))?)
                .execute(conn)?;
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now: client.created_at,
            };
            work.record(about(&client), EventAction::Created, json!({ "snapshot": client }))?;
            Ok(IssuedClient {
                client_id: client.id.clone(),
                client,
                client_secret: secret,
            })
        })
    }

    /// The clients of the organizations in an admin's scope.
    pub fn clients(&self, caller: &Caller, page: &PageRequest) -> Result<Page<ApiClient>, StoreError> {
        if let Caller::Request { principal, .. } = caller {
            match principal {
                None => return Err(StoreError::Denied(Denial::Unauthenticated)),
                Some(principal) if !principal.has(Role::Admin) => return Err(StoreError::Denied(Denial::Forbidden)),
                Some(_) => {}
            }
        }
        self.read(|conn| {
            let mut query = api_clients::table
                .order(api_clients::id.asc())
                .limit(page.fetch_limit())
                .into_boxed();
            if let ListScope::Limited { organizations, .. } = access::administered_list_scope(conn, caller)? {
                query = query.filter(api_clients::organization_id.eq_any(organizations));
            }
            if let Some(after) = page.after_key()? {
                query = query.filter(api_clients::id.gt(after));
            }
            let rows: Vec<ClientRow> = query.select(ClientRow::as_select()).load(conn)?;
            let clients = rows
                .into_iter()
                .map(ClientRow::into_domain)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page.finish(clients, |client| client.id.to_string()))
        })
    }

    /// Revokes a client: it gets no new tokens, and the tokens it holds stop working.
    pub fn revoke_client(
        &self,
        caller: &Caller,
        id: &ClientId,
        expected_revision: Option<i64>,
    ) -> Result<ApiClient, StoreError> {
        self.write(|conn| {
            let row = load_row(conn, id.as_str())?.ok_or(StoreError::NotFound("client"))?;
            let secret_hash = row.secret_hash.clone();
            let mut client = row.into_domain()?;
            // Clients are administrative: outside an admin's scope they do not exist.
            let target = access::administered_target(conn, &client.organization_id)?;
            caller.authorize(Action::Administer, &target, "client")?;
            check_revision(client.revision, expected_revision)?;
            let now = crate::now();
            client.revoke(now)?;
            client.revision += 1;
            client.updated_at = now;
            diesel::update(api_clients::table.find(id.as_str()))
                .set(ClientRow::from_domain(&client, secret_hash)?)
                .execute(conn)?;
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now,
            };
            let data = json!({ "from": "active", "to": "revoked", "reason": null, "snapshot": client });
            work.record(about(&client), EventAction::StatusChanged, data)?;
            Ok(client)
        })
    }

    /// The client-credentials check: the active client with this id and secret, if any.
    pub fn authenticate_client(&self, client_id: &str, secret: &str) -> Result<Option<ApiClient>, StoreError> {
        let Some(id) = ClientId::parse(client_id) else {
            return Ok(None);
        };
        let mut conn = self.connection()?;
        let Some(row) = load_row(&mut conn, id.as_str())? else {
            return Ok(None);
        };
        // Both sides are SHA-256 digests: comparing them reveals nothing about the secret.
        if row.secret_hash != hash_secret(secret) {
            return Ok(None);
        }
        let client = row.into_domain()?;
        Ok((!client.is_revoked()).then_some(client))
    }

    /// Whether a client exists and is not revoked (checked for every request made with its token).
    pub fn client_is_active(&self, id: &ClientId) -> Result<bool, StoreError> {
        let mut conn = self.connection()?;
        let revoked: Option<Option<NaiveDateTime>> = api_clients::table
            .find(id.as_str())
            .select(api_clients::revoked_at)
            .first(&mut *conn)
            .optional()?;
        Ok(matches!(revoked, Some(None)))
    }
}
