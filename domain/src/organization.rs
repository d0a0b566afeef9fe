//! Organizations: the national root, regions, municipalities, their
//! administrations and units, and networks of organizations. The parent
//! hierarchy is the authorization scope.

use crate::ids::OrganizationId;
use crate::patch::Patch;
use crate::validation::{Errors, MAX_SHORT, MAX_TITLE};
use crate::DomainError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrganizationKind {
    National,
    Region,
    Municipality,
    Administration,
    Unit,
    Network,
}

impl OrganizationKind {
    pub const ALL: [OrganizationKind; 6] = [
        Self::National,
        Self::Region,
        Self::Municipality,
        Self::Administration,
        Self::Unit,
        Self::Network,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::National => "national",
            Self::Region => "region",
            Self::Municipality => "municipality",
            Self::Administration => "administration",
            Self::Unit => "unit",
            Self::Network => "network",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// An organization as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Organization {
    pub id: OrganizationId,
    #[cfg_attr(feature = "openapi", schema(example = "Krokoms kommun"))]
    pub name: String,
    pub kind: OrganizationKind,
    /// Official code where one exists: SCB kommunkod (`2309`), länskod (`23`).
    #[cfg_attr(feature = "openapi", schema(example = "2309"))]
    pub code: Option<String>,
    /// The organization above this one; null only for the root.
    pub parent_id: Option<OrganizationId>,
    /// Members of a `network`; empty for other kinds.
    pub member_ids: Vec<OrganizationId>,
    /// Counts every change; the `ETag`.
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An organization as reads show it: with the indicators gone stale for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrganizationView {
    #[serde(flatten)]
    pub organization: Organization,
    /// True when the newest value of any indicator for this organization is older than the
    /// indicator's update frequency allows (the indicators' own `stale` rule).
    pub stale: bool,
    /// The indicators that are stale for this organization.
    pub stale_indicator_ids: Vec<crate::ids::IndicatorId>,
}

impl OrganizationView {
    pub fn new(organization: Organization, stale_indicator_ids: Vec<crate::ids::IndicatorId>) -> Self {
        Self {
            organization,
            stale: !stale_indicator_ids.is_empty(),
            stale_indicator_ids,
        }
    }
}

/// Body of `POST /v1/organizations`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    #[cfg_attr(feature = "openapi", schema(pattern = r"\S", max_length = 500))]
    pub name: String,
    pub kind: OrganizationKind,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"\S", max_length = 500))]
    pub code: Option<String>,
    /// Defaults to the root organization.
    #[serde(default)]
    pub parent_id: Option<OrganizationId>,
    /// Only for `kind: network`.
    #[serde(default)]
    pub member_ids: Vec<OrganizationId>,
}

impl NewOrganization {
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = Errors::new();
        errors.require_text("name", &self.name, MAX_TITLE);
        validate_code(&mut errors, self.code.as_deref());
        if self.kind == OrganizationKind::National {
            errors.add("kind", "there is one national organization, the root");
        }
        if self.kind != OrganizationKind::Network && !self.member_ids.is_empty() {
            errors.add("member_ids", "only a network has members");
        }
        errors.finish()
    }

    pub fn into_organization(self, now: DateTime<Utc>) -> Organization {
        Organization {
            id: OrganizationId::generate(),
            name: self.name.trim().to_owned(),
            kind: self.kind,
            code: self.code.map(|code| code.trim().to_owned()),
            parent_id: Some(self.parent_id.unwrap_or_else(OrganizationId::root)),
            member_ids: dedup(self.member_ids),
            revision: 1,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Body of `PATCH /v1/organizations/{id}`: fields present are changed, `null` clears.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OrganizationPatch {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = r"\S", max_length = 500))]
    pub name: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, pattern = r"\S", max_length = 500))]
    pub code: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "uuid"))]
    pub parent_id: Patch<OrganizationId>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub member_ids: Patch<Vec<OrganizationId>>,
}

impl Organization {
    /// Applies a patch; returns the names of the fields that changed.
    pub fn apply_patch(&mut self, patch: OrganizationPatch) -> Result<Vec<&'static str>, DomainError> {
        let mut errors = Errors::new();
        match &patch.name {
            Patch::Null => errors.add("name", "must not be null"),
            Patch::Value(name) => errors.require_text("name", name, MAX_TITLE),
            Patch::Absent => {}
        }
        validate_code(&mut errors, patch.code.as_value().map(String::as_str));
        if self.id.is_root() && !patch.parent_id.is_absent() {
            errors.add("parent_id", "the root organization has no parent");
        }
        if matches!(patch.parent_id, Patch::Null) && !self.id.is_root() {
            errors.add("parent_id", "every organization but the root has a parent");
        }
        if patch.parent_id.as_value() == Some(&self.id) {
            errors.add("parent_id", "an organization cannot be its own parent");
        }
        if self.kind != OrganizationKind::Network
            && patch.member_ids.as_value().is_some_and(|members| !members.is_empty())
        {
            errors.add("member_ids", "only a network has members");
        }
        errors.finish()?;

        let mut changed = Vec::new();
        if let Patch::Value(name) = patch.name {
            let name = name.trim().to_owned();
            if name != self.name {
                self.name = name;
                changed.push("name");
            }
        }
        let code = match patch.code {
            Patch::Value(code) => Patch::Value(code.trim().to_owned()),
            other => other,
        };
        if code.apply_to(&mut self.code) {
            changed.push("code");
        }
        if patch.parent_id.apply_to(&mut self.parent_id) {
            changed.push("parent_id");
        }
        match patch.member_ids {
            Patch::Value(members) => {
                let members = dedup(members);
                if members != self.member_ids {
                    self.member_ids = members;
                    changed.push("member_ids");
                }
            }
            Patch::Null if !self.member_ids.is_empty() => {
                self.member_ids.clear();
                changed.push("member_ids");
            }
            _ => {}
        }
        Ok(changed)
    }
}

fn validate_code(errors: &mut Errors, code: Option<&str>) {
    if let Some(code) = code {
        errors.require_text("code", code, MAX_SHORT);
    }
}

fn dedup(mut ids: Vec<OrganizationId>) -> Vec<OrganizationId> {
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(kind: OrganizationKind) -> NewOrganization {
        NewOrganization {
            name: "Krokoms kommun".into(),
            kind,
            code: Some("2309".into()),
            parent_id: None,
            member_ids: vec![],
        }
    }

    #[test]
    fn a_new_organization_defaults_to_the_root_as_parent() {
        let org = new(OrganizationKind::Municipality).into_organization(Utc::now());
        assert_eq!(org.parent_id, Some(OrganizationId::root()));
        assert_eq!(org.revision, 1);
    }

    #[test]
    fn only_networks_have_members() {
        let mut municipality = new(OrganizationKind::Municipality);
        municipality.member_ids = vec![OrganizationId::generate()];
        assert!(
            matches!(municipality.validate(), Err(DomainError::Validation(errors)) if errors[0].field == "member_ids")
        );
        let mut network = new(OrganizationKind::Network);
        network.member_ids = vec![OrganizationId::generate()];
        assert!(network.validate().is_ok());
    }

    #[test]
    fn a_second_national_organization_is_refused() {
        assert!(new(OrganizationKind::National).validate().is_err());
    }

    #[test]
    fn blank_names_are_refused() {
        let mut org = new(OrganizationKind::Region);
        org.name = "  ".into();
        assert!(org.validate().is_err());
    }

    #[test]
    fn patch_reports_only_changed_fields() {
        let mut org = new(OrganizationKind::Municipality).into_organization(Utc::now());
        let changed = org
            .apply_patch(OrganizationPatch {
                name: Patch::Value("Krokoms kommun".into()),
                code: Patch::Value("2310".into()),
                ..Default::default()
            })
            .expect("valid patch");
        assert_eq!(changed, vec!["code"]);
    }

    #[test]
    fn an_organization_cannot_be_its_own_parent() {
        let mut org = new(OrganizationKind::Municipality).into_organization(Utc::now());
        let own_id = org.id.clone();
        let patch = OrganizationPatch {
            parent_id: Patch::Value(own_id),
            ..Default::default()
        };
        assert!(org.apply_patch(patch).is_err());
    }
}
