//! Who is calling, and where a resource sits in the organization tree: the
//! facts the domain's permission function decides on.

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::schema::organizations;
use diesel::prelude::*;
use planledger_domain::events::Actor;
use planledger_domain::ids::OrganizationId;
use planledger_domain::permissions::{self, Action, Denial, OrganizationNode, Principal, Target, Visibility};

/// The caller of a store operation.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The server itself (the demo import, the CLI): not subject to tokens.
    System,
    /// A request, with its verified token if it had one.
    Request {
        principal: Option<Principal>,
        public_read: bool,
    },
}

impl Caller {
    pub fn request(principal: Option<Principal>, public_read: bool) -> Self {
        Caller::Request { principal, public_read }
    }

    pub(crate) fn actor(&self) -> Actor {
        match self {
            Caller::Request {
                principal: Some(principal),
                ..
            } => Actor {
                sub: principal.subject.clone(),
                organization_id: Some(principal.organization_id.clone()),
            },
            _ => Actor::system(),
        }
    }

    /// Asks the domain's permission function; a hidden resource is not found.
    pub(crate) fn authorize(&self, action: Action, target: &Target, entity: &'static str) -> Result<(), StoreError> {
        match self {
            Caller::System => Ok(()),
            Caller::Request { principal, public_read } => {
                permissions::authorize(principal.as_ref(), action, target, *public_read).map_err(
                    |denial| match denial {
                        Denial::Hidden => StoreError::NotFound(entity),
                        other => StoreError::Denied(other),
                    },
                )
            }
        }
    }
}

/// What a list may show the caller.
pub(crate) enum ListScope {
    Everything,
    /// Resources of these organizations, and public material when `public` is set.
    Limited {
        organizations: Vec<String>,
        public: bool,
    },
}

struct NodeRow {
    parent_id: Option<String>,
    kind: String,
    member_ids: String,
}

fn load_node(conn: &mut DbConnection, id: &str) -> Result<Option<NodeRow>, StoreError> {
    let row: Option<(Option<String>, String, String)> = organizations::table
        .find(id)
        .select((organizations::parent_id, organizations::kind, organizations::member_ids))
        .first(conn)
        .optional()?;
    Ok(row.map(|(parent_id, kind, member_ids)| NodeRow {
        parent_id,
        kind,
        member_ids,
    }))
}

/// The organization and its ancestors up to the root, nearest first.
pub(crate) fn chain(conn: &mut DbConnection, organization: &OrganizationId) -> Result<Vec<OrganizationId>, StoreError> {
    Ok(chain_and_node(conn, organization)?.0)
}

/// The chain, and the organization's own node (read once for both).
fn chain_and_node(
    conn: &mut DbConnection,
    organization: &OrganizationId,
) -> Result<(Vec<OrganizationId>, Option<NodeRow>), StoreError> {
    let mut chain = vec![organization.clone()];
    let node = load_node(conn, organization.as_str())?;
    let mut next = node.as_ref().and_then(|node| node.parent_id.clone());
    while let Some(parent) = next {
        let parent = OrganizationId::from_stored(parent);
        if chain.contains(&parent) || chain.len() > 64 {
            return Err(StoreError::Corrupt(format!(
                "the parents of {organization} form a cycle"
            )));
        }
        next = load_node(conn, parent.as_str())?.and_then(|node| node.parent_id);
        chain.push(parent);
    }
    Ok((chain, node))
}

/// The target for a resource owned by `organization`; a network's members count as owners.
pub(crate) fn target(
    conn: &mut DbConnection,
    organization: &OrganizationId,
    visibility: Visibility,
) -> Result<Target, StoreError> {
    let (owner_chain, node) = chain_and_node(conn, organization)?;
    let mut member_chains = Vec::new();
    if let Some(node) = node {
        if node.kind == "network" {
            let members: Vec<OrganizationId> = serde_json::from_str(&node.member_ids)?;
            for member in members {
                member_chains.push(chain(conn, &member)?);
            }
        }
    }
    Ok(Target {
        owner_chain,
        member_chains,
        visibility,
    })
}

/// What lists may show this caller.
pub(crate) fn list_scope(conn: &mut DbConnection, caller: &Caller) -> Result<ListScope, StoreError> {
    scope_by(conn, caller, permissions::scope_of)
}

/// What lists of administrative resources (API clients) may show this caller: no joint networks.
pub(crate) fn administered_list_scope(conn: &mut DbConnection, caller: &Caller) -> Result<ListScope, StoreError> {
    scope_by(conn, caller, permissions::administered_scope)
}

/// The target of an administrative resource: only its owner's chain, as network membership administers nothing.
pub(crate) fn administered_target(
    conn: &mut DbConnection,
    organization: &OrganizationId,
) -> Result<Target, StoreError> {
    Ok(Target {
        owner_chain: chain(conn, organization)?,
        member_chains: vec![],
        visibility: Visibility::Scoped,
    })
}

type ScopeRule = fn(&OrganizationId, &[OrganizationNode]) -> Option<std::collections::HashSet<OrganizationId>>;

fn scope_by(conn: &mut DbConnection, caller: &Caller, rule: ScopeRule) -> Result<ListScope, StoreError> {
    let (principal, public_read) = match caller {
        Caller::System => return Ok(ListScope::Everything),
        Caller::Request { principal, public_read } => (principal, *public_read),
    };
    let Some(principal) = principal else {
        return if public_read {
            Ok(ListScope::Limited {
                organizations: vec![],
                public: true,
            })
        } else {
            Err(StoreError::Denied(Denial::Unauthenticated))
        };
    };
    if principal.roles.is_empty() {
        return Ok(ListScope::Limited {
            organizations: vec![],
            public: public_read,
        });
    }
    let nodes = organizations::table
        .select((organizations::id, organizations::parent_id, organizations::member_ids))
        .load::<(String, Option<String>, String)>(conn)?
        .into_iter()
        .map(|(id, parent_id, member_ids)| {
            Ok(OrganizationNode {
                id: OrganizationId::from_stored(id),
                parent_id: parent_id.map(OrganizationId::from_stored),
                member_ids: serde_json::from_str(&member_ids)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(match rule(&principal.organization_id, &nodes) {
        None => ListScope::Everything,
        Some(scope) => ListScope::Limited {
            organizations: scope.into_iter().map(OrganizationId::into_string).collect(),
            public: public_read,
        },
    })
}
