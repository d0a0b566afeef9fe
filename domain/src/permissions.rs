//! Who may do what: the one permission function every endpoint asks.
//!
//! A token acts within its organization and that organization's descendants;
//! on a joint plan (owned by a `network`) the members' tokens act as on their
//! own. Roles accumulate and each action needs its own role: `reader` (or any
//! role) reads, `editor` edits, `approver` decides, `admin` administers.

use crate::ids::OrganizationId;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Reader,
    Editor,
    Approver,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Self::Reader, Self::Editor, Self::Approver, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Editor => "editor",
            Self::Approver => "approver",
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

/// The caller, as its verified token names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub organization_id: OrganizationId,
    pub roles: Vec<Role>,
}

impl Principal {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read the resource.
    Read,
    /// Create or change plans, goals, activities, indicators, values and draft follow-ups.
    Edit,
    /// Adopt, revise, close, supersede plans; approve or return follow-ups.
    Approve,
    /// Manage organizations, webhooks and API clients.
    Administer,
}

impl Action {
    fn role(self) -> Option<Role> {
        match self {
            Action::Read => None,
            Action::Edit => Some(Role::Editor),
            Action::Approve => Some(Role::Approver),
            Action::Administer => Some(Role::Admin),
        }
    }
}

/// Who, apart from those in scope, may read a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Public material (plans out of draft and what is under them): anyone, while public read is on.
    Public,
    /// The organization directory: any valid token.
    Directory,
    /// Only tokens whose scope covers the resource.
    Scoped,
}

/// Where a resource sits: the chain from its owning organization up to the
/// root, and for a joint plan the chains of the network's members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub owner_chain: Vec<OrganizationId>,
    pub member_chains: Vec<Vec<OrganizationId>>,
    pub visibility: Visibility,
}

impl Target {
    fn owned_within(&self, organization: &OrganizationId) -> bool {
        self.owner_chain.contains(organization)
    }

    fn joint_within(&self, organization: &OrganizationId) -> bool {
        self.member_chains.iter().any(|chain| chain.contains(organization))
    }
}

/// Why a request was refused; the HTTP layer answers 401, 403 and 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No token where one is needed.
    Unauthenticated,
    /// The caller may see the resource but not do this to it.
    Forbidden,
    /// The caller may not even know the resource exists.
    Hidden,
}

/// Whether anyone may do `action` to material of this visibility, token or not: reading public
/// material while public reading is on. Deciding it needs no organization tree.
pub fn open_to_all(action: Action, visibility: Visibility, public_read: bool) -> bool {
    action == Action::Read && visibility == Visibility::Public && public_read
}

/// Decides whether `principal` may do `action` to `target`.
pub fn authorize(
    principal: Option<&Principal>,
    action: Action,
    target: &Target,
    public_read: bool,
) -> Result<(), Denial> {
    if open_to_all(action, target.visibility, public_read) {
        return Ok(());
    }
    let Some(principal) = principal else {
        let public = public_read && target.visibility == Visibility::Public;
        return match action {
            Action::Read if public => Ok(()),
            // Without a token the directory is closed; a hidden resource is simply not found.
            Action::Read if public_read && target.visibility != Visibility::Directory => Err(Denial::Hidden),
            _ => Err(Denial::Unauthenticated),
        };
    };
    let in_scope = target.owned_within(&principal.organization_id)
        || (action != Action::Administer && target.joint_within(&principal.organization_id));
    let in_read_scope =
        target.owned_within(&principal.organization_id) || target.joint_within(&principal.organization_id);
    let has_role = !principal.roles.is_empty();
    let can_read = match target.visibility {
        // Public material is public to a token too, whatever it holds.
        Visibility::Public => public_read || (in_read_scope && has_role),
        Visibility::Directory => has_role,
        Visibility::Scoped => in_read_scope && has_role,
    };

    match action.role() {
        None if can_read => Ok(()),
        Some(role) if in_scope && principal.has(role) => Ok(()),
        _ if can_read => Err(Denial::Forbidden),
        _ => Err(Denial::Hidden),
    }
}

/// An organization as the scope computation needs it.
#[derive(Debug, Clone)]
pub struct OrganizationNode {
    pub id: OrganizationId,
    pub parent_id: Option<OrganizationId>,
    pub member_ids: Vec<OrganizationId>,
}

/// The organizations whose resources a token of `organization` reads in
/// scope: itself, its descendants, and networks with a member among those.
/// `None` means every organization (the root's scope).
pub fn scope_of(organization: &OrganizationId, all: &[OrganizationNode]) -> Option<HashSet<OrganizationId>> {
    let mut scope = administered_scope(organization, all)?;
    // A joint plan is one owned by a network: the network joins the scope when
    // any member is in it, but what lies under the network does not.
    let joint: Vec<OrganizationId> = all
        .iter()
        .filter(|node| node.member_ids.iter().any(|member| scope.contains(member)))
        .map(|node| node.id.clone())
        .collect();
    scope.extend(joint);
    Some(scope)
}

/// The organizations a token of `organization` administers: itself and its
/// descendants (network membership gives no administration). `None`: all.
pub fn administered_scope(organization: &OrganizationId, all: &[OrganizationNode]) -> Option<HashSet<OrganizationId>> {
    if organization.is_root() {
        return None;
    }
    let mut children: HashMap<&OrganizationId, Vec<&OrganizationId>> = HashMap::new();
    for node in all {
        if let Some(parent) = &node.parent_id {
            children.entry(parent).or_default().push(&node.id);
        }
    }
    let mut scope = HashSet::new();
    let mut stack = vec![organization];
    while let Some(next) = stack.pop() {
        if scope.insert(next.clone()) {
            stack.extend(children.get(next).into_iter().flatten().copied());
        }
    }
    Some(scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tree {
        region: OrganizationId,
        municipality: OrganizationId,
        sibling: OrganizationId,
        network: OrganizationId,
        nodes: Vec<OrganizationNode>,
    }

    fn tree() -> Tree {
        let region = OrganizationId::generate();
        let municipality = OrganizationId::generate();
        let sibling = OrganizationId::generate();
        let network = OrganizationId::generate();
        let node = |id: &OrganizationId, parent: &OrganizationId, members: Vec<OrganizationId>| OrganizationNode {
            id: id.clone(),
            parent_id: Some(parent.clone()),
            member_ids: members,
        };
        let nodes = vec![
            OrganizationNode {
                id: OrganizationId::root(),
                parent_id: None,
                member_ids: vec![],
            },
            node(&region, &OrganizationId::root(), vec![]),
            node(&municipality, &region, vec![]),
            node(&sibling, &region, vec![]),
            node(&network, &OrganizationId::root(), vec![municipality.clone()]),
        ];
        Tree {
            region,
            municipality,
            sibling,
            network,
            nodes,
        }
    }

    fn principal(org: &OrganizationId, roles: &[Role]) -> Principal {
        Principal {
            subject: "anna.kerstin".into(),
            organization_id: org.clone(),
            roles: roles.to_vec(),
        }
    }

    fn target(chain: &[&OrganizationId], visibility: Visibility) -> Target {
        Target {
            owner_chain: chain.iter().map(|id| (*id).clone()).collect(),
            member_chains: vec![],
            visibility,
        }
    }

    #[test]
    fn anonymous_reads_public_material_only_while_public_read_is_on() {
        let t = tree();
        let public = target(
            &[&t.municipality, &t.region, &OrganizationId::root()],
            Visibility::Public,
        );
        let draft = Target {
            visibility: Visibility::Scoped,
            ..public.clone()
        };
        assert_eq!(authorize(None, Action::Read, &public, true), Ok(()));
        assert_eq!(authorize(None, Action::Read, &draft, true), Err(Denial::Hidden));
        assert_eq!(
            authorize(None, Action::Read, &public, false),
            Err(Denial::Unauthenticated)
        );
        assert_eq!(
            authorize(None, Action::Edit, &public, true),
            Err(Denial::Unauthenticated)
        );
    }

    #[test]
    fn a_token_acts_within_its_organization_and_descendants() {
        let t = tree();
        let in_municipality = target(
            &[&t.municipality, &t.region, &OrganizationId::root()],
            Visibility::Scoped,
        );
        let region_editor = principal(&t.region, &[Role::Editor]);
        let sibling_editor = principal(&t.sibling, &[Role::Reader, Role::Editor]);
        assert_eq!(
            authorize(Some(&region_editor), Action::Edit, &in_municipality, true),
            Ok(())
        );
        assert_eq!(
            authorize(Some(&region_editor), Action::Read, &in_municipality, true),
            Ok(())
        );
        assert_eq!(
            authorize(Some(&sibling_editor), Action::Edit, &in_municipality, true),
            Err(Denial::Hidden)
        );
        assert_eq!(
            authorize(Some(&sibling_editor), Action::Read, &in_municipality, true),
            Err(Denial::Hidden)
        );
    }

    #[test]
    fn each_action_needs_its_role() {
        let t = tree();
        let own = target(
            &[&t.municipality, &t.region, &OrganizationId::root()],
            Visibility::Scoped,
        );
        let reader = principal(&t.municipality, &[Role::Reader]);
        assert_eq!(authorize(Some(&reader), Action::Read, &own, true), Ok(()));
        for action in [Action::Edit, Action::Approve, Action::Administer] {
            assert_eq!(authorize(Some(&reader), action, &own, true), Err(Denial::Forbidden));
        }
        let editor = principal(&t.municipality, &[Role::Editor]);
        assert_eq!(
            authorize(Some(&editor), Action::Approve, &own, true),
            Err(Denial::Forbidden)
        );
        let approver = principal(&t.municipality, &[Role::Approver]);
        assert_eq!(authorize(Some(&approver), Action::Approve, &own, true), Ok(()));
        assert_eq!(
            authorize(Some(&approver), Action::Edit, &own, true),
            Err(Denial::Forbidden)
        );
    }

    #[test]
    fn a_parent_is_out_of_a_childs_scope() {
        let t = tree();
        let regional = target(&[&t.region, &OrganizationId::root()], Visibility::Scoped);
        let municipal_admin = principal(&t.municipality, &[Role::Admin, Role::Editor]);
        assert_eq!(
            authorize(Some(&municipal_admin), Action::Edit, &regional, true),
            Err(Denial::Hidden)
        );
        let public_regional = Target {
            visibility: Visibility::Public,
            ..regional
        };
        assert_eq!(
            authorize(Some(&municipal_admin), Action::Edit, &public_regional, true),
            Err(Denial::Forbidden)
        );
    }

    #[test]
    fn root_admin_administers_everywhere() {
        let t = tree();
        let anywhere = target(&[&t.sibling, &t.region, &OrganizationId::root()], Visibility::Scoped);
        let root_admin = principal(&OrganizationId::root(), &[Role::Admin]);
        assert_eq!(
            authorize(Some(&root_admin), Action::Administer, &anywhere, true),
            Ok(())
        );
        assert_eq!(
            authorize(Some(&root_admin), Action::Edit, &anywhere, true),
            Err(Denial::Forbidden)
        );
    }

    #[test]
    fn network_members_act_on_joint_plans_but_do_not_administer_the_network() {
        let t = tree();
        let joint = Target {
            owner_chain: vec![t.network.clone(), OrganizationId::root()],
            member_chains: vec![vec![t.municipality.clone(), t.region.clone(), OrganizationId::root()]],
            visibility: Visibility::Scoped,
        };
        let member = principal(&t.municipality, &[Role::Editor, Role::Approver, Role::Admin]);
        assert_eq!(authorize(Some(&member), Action::Edit, &joint, true), Ok(()));
        assert_eq!(authorize(Some(&member), Action::Approve, &joint, true), Ok(()));
        assert_eq!(
            authorize(Some(&member), Action::Administer, &joint, true),
            Err(Denial::Forbidden)
        );
        let outsider = principal(&t.sibling, &[Role::Editor]);
        assert_eq!(
            authorize(Some(&outsider), Action::Edit, &joint, true),
            Err(Denial::Hidden)
        );
    }

    #[test]
    fn a_token_without_roles_reads_nothing_scoped() {
        let t = tree();
        let own = target(
            &[&t.municipality, &t.region, &OrganizationId::root()],
            Visibility::Scoped,
        );
        assert_eq!(
            authorize(Some(&principal(&t.municipality, &[])), Action::Read, &own, true),
            Err(Denial::Hidden)
        );
    }

    /// The chain of `id` up to the root, as persistence builds a target's.
    fn chain_of(nodes: &[OrganizationNode], id: &OrganizationId) -> Vec<OrganizationId> {
        let mut chain = vec![id.clone()];
        while let Some(parent) = nodes
            .iter()
            .find(|n| &n.id == chain.last().expect("chain"))
            .and_then(|n| n.parent_id.clone())
        {
            chain.push(parent);
        }
        chain
    }

    #[test]
    fn list_scope_and_authorize_agree_on_every_organization() {
        let mut t = tree();
        // A unit under the network: not joint, so members do not see into it.
        let under_network = OrganizationId::generate();
        t.nodes.push(OrganizationNode {
            id: under_network.clone(),
            parent_id: Some(t.network.clone()),
            member_ids: vec![],
        });
        for reader_org in [&t.region, &t.municipality, &t.sibling, &t.network] {
            let scope = scope_of(reader_org, &t.nodes).expect("not root");
            let reader = principal(reader_org, &[Role::Reader]);
            for node in &t.nodes {
                let member_chains = node
                    .member_ids
                    .iter()
                    .map(|member| chain_of(&t.nodes, member))
                    .collect();
                let target = Target {
                    owner_chain: chain_of(&t.nodes, &node.id),
                    member_chains,
                    visibility: Visibility::Scoped,
                };
                let allowed = authorize(Some(&reader), Action::Read, &target, true).is_ok();
                assert_eq!(
                    allowed,
                    scope.contains(&node.id),
                    "reader of {reader_org} on {}",
                    node.id
                );
            }
            assert!(!scope.contains(&under_network) || reader_org == &t.network);
        }
    }

    #[test]
    fn public_material_is_readable_with_a_token_without_roles() {
        let t = tree();
        let public = target(&[&t.region, &OrganizationId::root()], Visibility::Public);
        let no_roles = principal(&t.sibling, &[]);
        assert_eq!(authorize(Some(&no_roles), Action::Read, &public, true), Ok(()));
        assert_eq!(
            authorize(Some(&no_roles), Action::Read, &public, false),
            Err(Denial::Hidden)
        );
    }

    #[test]
    fn scope_covers_descendants_and_joint_networks() {
        let t = tree();
        let scope = scope_of(&t.region, &t.nodes).expect("not root");
        assert!(scope.contains(&t.region) && scope.contains(&t.municipality) && scope.contains(&t.sibling));
        assert!(scope.contains(&t.network), "a member's network is in scope");
        assert!(!scope.contains(&OrganizationId::root()));
        let sibling_scope = scope_of(&t.sibling, &t.nodes).expect("not root");
        assert!(!sibling_scope.contains(&t.network) && !sibling_scope.contains(&t.municipality));
        assert!(scope_of(&OrganizationId::root(), &t.nodes).is_none());
    }
}
