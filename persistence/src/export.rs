//! The export: an organization's plans in the import format, read as one snapshot.

use crate::access::{self, Caller};
use crate::db::Store;
use crate::error::StoreError;
use crate::organizations;
use crate::plans::{changelog_of, detail_of, readable};
use crate::rows::PlanRow;
use crate::schema::plans;
use diesel::prelude::*;
use planledger_domain::ids::OrganizationId;
use planledger_domain::import::write_document;
use planledger_domain::permissions::{Action, Visibility};

impl Store {
    /// The organization's plans that the caller may read, oldest first, in the import format.
    pub fn export_plans(
        &self,
        caller: &Caller,
        organization_id: &OrganizationId,
    ) -> Result<serde_json::Value, StoreError> {
        self.read(|conn| {
            let organization =
                organizations::load(conn, organization_id)?.ok_or(StoreError::NotFound("organization"))?;
            // Plans in force are public material, so their export is too; each plan is checked below.
            let target = access::target(conn, organization_id, Visibility::Public)?;
            caller.authorize(Action::Read, &target, "organization")?;
            let rows: Vec<PlanRow> = plans::table
                .filter(plans::organization_id.eq(organization_id.as_str()))
                .order(plans::id.asc())
                .select(PlanRow::as_select())
                .load(conn)?;
            let mut exported = Vec::new();
            for row in rows {
                let plan = row.into_domain()?;
                if readable(conn, caller, &plan)? {
                    let changelog = changelog_of(conn, &plan.id)?;
                    exported.push((detail_of(conn, plan)?, changelog));
                }
            }
            Ok(write_document(&organization, &exported))
        })
    }
}
