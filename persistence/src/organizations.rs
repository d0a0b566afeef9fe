//! Organizations: create, read, list, update — each write with its event.

use crate::access::{self, Caller};
use crate::db::{DbConnection, Store};
use crate::error::StoreError;
use crate::pagination::{Page, PageRequest};
use crate::rows::OrganizationRow;
use crate::schema::organizations;
use crate::work::{About, Work};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use planledger_domain::events::{EntityType, EventAction};
use planledger_domain::ids::OrganizationId;
use planledger_domain::organization::{
    NewOrganization, Organization, OrganizationKind, OrganizationPatch, OrganizationView,
};
use planledger_domain::permissions::{Action, Denial, Visibility};
use planledger_domain::DomainError;
use serde_json::json;

/// How deep the organization tree may grow (the root is level 1).
const MAX_DEPTH: usize = 32;

/// Filters of `GET /v1/organizations`.
#[derive(Debug, Clone, Default)]
pub struct OrganizationFilter {
    pub kind: Option<OrganizationKind>,
    pub parent_id: Option<OrganizationId>,
    pub code: Option<String>,
    pub q: Option<String>,
    pub updated_since: Option<DateTime<Utc>>,
}

pub(crate) fn load(conn: &mut DbConnection, id: &OrganizationId) -> Result<Option<Organization>, StoreError> {
    organizations::table
        .find(id.as_str())
        .select(OrganizationRow::as_select())
        .first(conn)
        .optional()?
        .map(OrganizationRow::into_domain)
        .transpose()
}

pub(crate) fn find_by_code(conn: &mut DbConnection, code: &str) -> Result<Option<Organization>, StoreError> {
    organizations::table
        .filter(organizations::code.eq(code))
        .select(OrganizationRow::as_select())
        .first(conn)
        .optional()?
        .map(OrganizationRow::into_domain)
        .transpose()
}

fn ensure_code_free(conn: &mut DbConnection, code: Option<&str>, own: &OrganizationId) -> Result<(), StoreError> {
    if let Some(code) = code {
        if find_by_code(conn, code)?.is_some_and(|other| &other.id != own) {
            return Err(StoreError::Domain(DomainError::Conflict(format!(
                "another organization has code {code:?}"
            ))));
        }
    }
    Ok(())
}

fn ensure_members_exist(conn: &mut DbConnection, members: &[OrganizationId]) -> Result<(), StoreError> {
    for (index, member) in members.iter().enumerate() {
        if load(conn, member)?.is_none() {
            return Err(StoreError::invalid(
                &format!("member_ids[{index}]"),
                "is not a known organization",
            ));
        }
    }
    Ok(())
}

/// Inserts an organization and records its creation.
pub(crate) fn insert(work: &mut Work<'_>, organization: &Organization) -> Result<(), StoreError> {
    diesel::insert_into(organizations::table)
        .values(OrganizationRow::from_domain(organization)?)
        .execute(work.conn)?;
    work.record(
        about(organization),
        EventAction::Created,
        json!({ "snapshot": organization }),
    )?;
    Ok(())
}

fn about(organization: &Organization) -> About<'_> {
    About {
        entity: EntityType::Organization,
        id: organization.id.as_str(),
        organization_id: Some(&organization.id),
        plan_id: None,
    }
}

impl Store {
    pub fn create_organization(&self, caller: &Caller, new: NewOrganization) -> Result<Organization, StoreError> {
        new.validate()?;
        self.write(|conn| {
            let organization = new.into_organization(crate::now());
            let parent = organization.parent_id.clone().unwrap_or_else(OrganizationId::root);
            if load(conn, &parent)?.is_none() {
                return Err(StoreError::invalid("parent_id", "is not a known organization"));
            }
            if access::chain(conn, &parent)?.len() >= MAX_DEPTH {
                return Err(StoreError::invalid(
                    "parent_id",
                    "organizations nest at most 32 levels deep",
                ));
            }
            let target = access::target(conn, &parent, Visibility::Directory)?;
            caller.authorize(Action::Administer, &target, "organization")?;
            ensure_members_exist(conn, &organization.member_ids)?;
            ensure_code_free(conn, organization.code.as_deref(), &organization.id)?;
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now: organization.created_at,
            };
            insert(&mut work, &organization)?;
            Ok(organization)
        })
    }

    pub fn organization(&self, caller: &Caller, id: &OrganizationId) -> Result<OrganizationView, StoreError> {
        self.read(|conn| {
            let organization = load(conn, id)?.ok_or(StoreError::NotFound("organization"))?;
            let target = access::target(conn, id, Visibility::Directory)?;
            caller.authorize(Action::Read, &target, "organization")?;
            Ok(views(conn, vec![organization])?.remove(0))
        })
    }

    /// Finds an organization by id or by code (for the CLI).
    pub fn organization_by_id_or_code(&self, key: &str) -> Result<Option<Organization>, StoreError> {
        self.read(|conn| match OrganizationId::parse(key) {
            Some(id) => load(conn, &id),
            None => find_by_code(conn, key),
        })
    }

    pub fn organizations(
        &self,
        caller: &Caller,
        filter: &OrganizationFilter,
        page: &PageRequest,
    ) -> Result<Page<OrganizationView>, StoreError> {
        match caller {
            Caller::Request { principal: None, .. } => return Err(StoreError::Denied(Denial::Unauthenticated)),
            Caller::Request { principal: Some(p), .. } if p.roles.is_empty() => {
                return Err(StoreError::Denied(Denial::Forbidden))
            }
            _ => {}
        }
        self.read(|conn| {
            let mut query = organizations::table.order(organizations::id.asc()).into_boxed();
            if filter.q.is_none() {
                query = query.limit(page.fetch_limit());
            }
            if let Some(after) = page.after_key()? {
                query = query.filter(organizations::id.gt(after));
            }
            if let Some(kind) = filter.kind {
                query = query.filter(organizations::kind.eq(kind.as_str()));
            }
            if let Some(parent) = &filter.parent_id {
                query = query.filter(organizations::parent_id.eq(parent.as_str()));
            }
            if let Some(code) = &filter.code {
                query = query.filter(organizations::code.eq(code));
            }
            if let Some(since) = filter.updated_since {
                query = query.filter(organizations::updated_at.ge(since.naive_utc()));
            }
            let rows: Vec<OrganizationRow> = query.select(OrganizationRow::as_select()).load(conn)?;
            let mut items = rows
                .into_iter()
                .map(OrganizationRow::into_domain)
                .collect::<Result<Vec<_>, _>>()?;
            // Organizations are few: `q` is matched in Rust, so å, ä and ö fold the same on both backends.
            if let Some(q) = filter.q.as_deref().map(str::to_lowercase) {
                items.retain(|org: &Organization| org.name.to_lowercase().contains(&q));
                items.truncate(page.fetch_limit() as usize);
            }
            let page = page.finish(items, |org| org.id.to_string());
            Ok(Page {
                items: views(conn, page.items)?,
                next_cursor: page.next_cursor,
            })
        })
    }

    pub fn update_organization(
        &self,
        caller: &Caller,
        id: &OrganizationId,
        patch: OrganizationPatch,
        expected_revision: Option<i64>,
    ) -> Result<Organization, StoreError> {
        self.write(|conn| {
            let mut organization = load(conn, id)?.ok_or(StoreError::NotFound("organization"))?;
            let target = access::target(conn, id, Visibility::Directory)?;
            caller.authorize(Action::Administer, &target, "organization")?;
            check_revision(organization.revision, expected_revision)?;
            let changes = organization.apply_patch(patch)?;
            if changes.is_empty() {
                return Ok(organization);
            }
            if changes.contains(&"parent_id") {
                let parent = organization.parent_id.clone().unwrap_or_else(OrganizationId::root);
                if load(conn, &parent)?.is_none() {
                    return Err(StoreError::invalid("parent_id", "is not a known organization"));
                }
                let parent_chain = access::chain(conn, &parent)?;
                if parent_chain.contains(id) {
                    return Err(StoreError::invalid(
                        "parent_id",
                        "would make the organization its own ancestor",
                    ));
                }
                if parent_chain.len() >= MAX_DEPTH {
                    return Err(StoreError::invalid(
                        "parent_id",
                        "organizations nest at most 32 levels deep",
                    ));
                }
                let new_parent = access::target(conn, &parent, Visibility::Directory)?;
                caller.authorize(Action::Administer, &new_parent, "organization")?;
            }
            ensure_members_exist(conn, &organization.member_ids)?;
            ensure_code_free(conn, organization.code.as_deref(), id)?;
            let now = crate::now();
            organization.revision += 1;
            organization.updated_at = now;
            diesel::update(organizations::table.find(id.as_str()))
                .set(OrganizationRow::from_domain(&organization)?)
                .execute(conn)?;
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now,
            };
            work.record(
                about(&organization),
                EventAction::Updated,
                json!({ "changes": changes, "snapshot": organization }),
            )?;
            Ok(organization)
        })
    }
}

/// Organizations as reads show them, with the indicators gone stale for each.
fn views(conn: &mut DbConnection, organizations: Vec<Organization>) -> Result<Vec<OrganizationView>, StoreError> {
    let ids: Vec<&str> = organizations.iter().map(|org| org.id.as_str()).collect();
    let mut stale = crate::indicators::stale_indicators_by_organization(conn, &ids)?;
    Ok(organizations
        .into_iter()
        .map(|org| {
            let stale_ids = stale.remove(org.id.as_str()).unwrap_or_default();
            OrganizationView::new(org, stale_ids)
        })
        .collect())
}

/// `If-Match`: the change applies only to the revision the client has seen.
pub(crate) fn check_revision(current: i64, expected: Option<i64>) -> Result<(), StoreError> {
    match expected {
        Some(expected) if expected != current => Err(StoreError::Domain(DomainError::RevisionMismatch { current })),
        _ => Ok(()),
    }
}
