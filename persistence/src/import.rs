//! The bulk import: a checked import document written in one transaction,
//! idempotently — a plan already present (same organization, diary number
//! and document version) is left as it is and appends nothing.

use crate::access::{self, Caller};
use crate::db::{DbConnection, Store};
use crate::error::StoreError;
use crate::organizations;
use crate::plans::{insert_activity, insert_goal, insert_plan};
use crate::schema::plans;
use crate::work::Work;
use diesel::prelude::*;
use planledger_domain::ids::OrganizationId;
use planledger_domain::import::{Counts, ImportDocument, ImportPlan, ImportSummary};
use planledger_domain::organization::{NewOrganization, Organization};
use planledger_domain::permissions::{Action, Visibility};

fn existing_plan(
    conn: &mut DbConnection,
    organization: &OrganizationId,
    plan: &ImportPlan,
) -> Result<bool, StoreError> {
    let new = &plan.new_plan;
    let mut query = plans::table
        .filter(plans::organization_id.eq(organization.as_str()))
        .into_boxed();
    query = match &new.diary_number {
        Some(diary_number) => query.filter(plans::diary_number.eq(diary_number.clone())),
        // Without a diary number the title tells plans apart.
        None => query
            .filter(plans::diary_number.is_null())
            .filter(plans::title.eq(new.title.trim().to_owned())),
    };
    query = match &new.document_version {
        Some(version) => query.filter(plans::document_version.eq(version.clone())),
        None => query.filter(plans::document_version.is_null()),
    };
    Ok(query.select(plans::id).first::<String>(conn).optional()?.is_some())
}

impl Store {
    pub fn import_plans(&self, caller: &Caller, document: ImportDocument) -> Result<ImportSummary, StoreError> {
        self.write(|conn| {
            let now = crate::now();
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now,
            };
            let (organization, organization_created) = find_or_create_organization(&mut work, caller, &document)?;
            let target = access::target(work.conn, &organization.id, Visibility::Directory)?;
            caller.authorize(Action::Edit, &target, "organization")?;

            let mut summary = ImportSummary {
                organization_id: organization.id.clone(),
                organization_created,
                plans: Counts::default(),
                goals: Counts::default(),
                activities: Counts::default(),
            };
            for import in &document.plans {
                let goal_count = import.goals.len();
                let activity_count: usize = import.goals.iter().map(|goal| goal.activities.len()).sum();
                if existing_plan(work.conn, &organization.id, import)? {
                    summary.plans.unchanged += 1;
                    summary.goals.unchanged += goal_count;
                    summary.activities.unchanged += activity_count;
                    continue;
                }
                let plan = import.to_plan(organization.id.clone(), now)?;
                insert_plan(&mut work, &plan, &import.changelog)?;
                for (goal_position, import_goal) in import.goals.iter().enumerate() {
                    let goal = import_goal.goal.clone().into_goal(plan.id.clone(), now)?;
                    insert_goal(&mut work, &goal, goal_position as i32, &organization.id)?;
                    for (position, new_activity) in import_goal.activities.iter().enumerate() {
                        let activity = new_activity
                            .clone()
                            .into_activity(goal.id.clone(), plan.id.clone(), now)?;
                        insert_activity(&mut work, &activity, position as i32, &organization.id)?;
                    }
                }
                summary.plans.created += 1;
                summary.goals.created += goal_count;
                summary.activities.created += activity_count;
            }
            Ok(summary)
        })
    }
}

/// The organization is matched by code, or by name and kind when the file gives no code.
fn find_or_create_organization(
    work: &mut Work<'_>,
    caller: &Caller,
    document: &ImportDocument,
) -> Result<(Organization, bool), StoreError> {
    let wanted = &document.organization;
    let existing = match &wanted.code {
        Some(code) => organizations::find_by_code(work.conn, code)?,
        None => {
            use crate::schema::organizations as o;
            o::table
                .filter(o::name.eq(&wanted.name))
                .filter(o::kind.eq(wanted.kind.as_str()))
                .order(o::id.asc())
                .select(crate::rows::OrganizationRow::as_select())
                .first(work.conn)
                .optional()?
                .map(crate::rows::OrganizationRow::into_domain)
                .transpose()?
        }
    };
    if let Some(organization) = existing {
        return Ok((organization, false));
    }
    let new = NewOrganization {
        name: wanted.name.clone(),
        kind: wanted.kind,
        code: wanted.code.clone(),
        parent_id: None,
        member_ids: vec![],
    };
    new.validate()?;
    let organization = new.into_organization(work.now);
    let root = access::target(work.conn, &OrganizationId::root(), Visibility::Directory)?;
    caller.authorize(Action::Administer, &root, "organization")?;
    organizations::insert(work, &organization)?;
    Ok((organization, true))
}
