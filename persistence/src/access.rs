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

    /// Whether the caller may do `action` to material of this visibility wherever it sits:
    /// the server itself, and anyone reading public material. No tree need be read to decide.
    pub(crate) fn allowed_anywhere(&self, action: Action, visibility: Visibility) -> bool {
        match self {
            Caller::System => true,
            Caller::Request { public_read, .. } => permissions::open_to_all(action, visibility, *public_read),
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
    kind: String,
    member_ids: String,
}

/// The organization and its ancestors up to the root, nearest first.
pub(crate) fn chain(conn: &mut DbConnection, organization: &OrganizationId) -> Result<Vec<OrganizationId>, StoreError> {
    Ok(chain_and_node(conn, organization)?.0)
}

/// One organization of a chain, as the recursive query reads it.
#[derive(QueryableByName)]
struct ChainRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    parent_id: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    member_ids: String,
}

/// The organization and its ancestors, nearest first, in one statement (a row a level,
/// at most 65 levels so that a cycle ends too).
macro_rules! chain_sql {
    ($parameter:literal) => {
        concat!(
            "WITH RECURSIVE chain (id, parent_id, kind, member_ids, depth) AS (",
            " SELECT id, parent_id, kind, member_ids, 0 FROM organizations WHERE id = ",
            $parameter,
            " UNION ALL",
            " SELECT o.id, o.parent_id, o.kind, o.member_ids, chain.depth + 1",
            " FROM organizations o JOIN chain ON o.id = chain.parent_id WHERE chain.depth < 64)",
            " SELECT id, parent_id, kind, member_ids FROM chain ORDER BY depth"
        )
    };
}

/// The chain, and the organization's own node (read once for both).
fn chain_and_node(
    conn: &mut DbConnection,
    organization: &OrganizationId,
) -> Result<(Vec<OrganizationId>, Option<NodeRow>), StoreError> {
    use diesel::sql_types::Text;
    // Where a query must differ by backend: the parameter's spelling.
    let rows: Vec<ChainRow> = match conn {
        DbConnection::Postgres(pg) => diesel::sql_query(chain_sql!("$1"))
            .bind::<Text, _>(organization.as_str())
            .load(pg)?,
        DbConnection::Sqlite(sqlite) => diesel::sql_query(chain_sql!("?"))
            .bind::<Text, _>(organization.as_str())
            .load(sqlite)?,
    };
    let mut chain = vec![organization.clone()];
    let mut next = None;
    for row in rows.iter().skip(1) {
        let id = OrganizationId::from_stored(row.id.clone());
        if chain.contains(&id) || chain.len() > 64 {
            return Err(StoreError::Corrupt(format!(
                "the parents of {organization} form a cycle"
            )));
        }
        chain.push(id);
    }
    if let Some(last) = rows.last() {
        next = last.parent_id.clone();
    }
    // A parent that is named but not there ends the chain, as its id.
    if let Some(parent) = next {
        let parent = OrganizationId::from_stored(parent);
        if chain.contains(&parent) || chain.len() > 64 {
            return Err(StoreError::Corrupt(format!(
                "the parents of {organization} form a cycle"
            )));
        }
        chain.push(parent);
    }
    let node = rows.into_iter().next().map(|row| NodeRow {
        kind: row.kind,
        member_ids: row.member_ids,
    });
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
    // A scope that is everything without looking at the tree (the root's) needs no tree read.
    if rule(&principal.organization_id, &[]).is_none() {
        return Ok(ListScope::Everything);
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
