//! Reports for scheduled scripts, read as one snapshot and scoped like the lists.

use crate::access::{self, Caller, ListScope};
use crate::db::Store;
use crate::error::StoreError;
use crate::schema::{activities, goals, plans};
use chrono::NaiveDate;
use diesel::prelude::*;
use planledger_domain::activity::ActivityStatus;
use planledger_domain::plan::PlanStatus;
use planledger_domain::report::OverdueActivity;

/// The columns the overdue report reads, in select order.
#[derive(Queryable)]
struct OverdueRow {
    organization_id: String,
    plan_id: String,
    plan_title: String,
    diary_number: Option<String>,
    goal_id: String,
    goal_number: Option<String>,
    activity_id: String,
    activity_title: String,
    due_date: Option<NaiveDate>,
    status: String,
    responsible_execution: Option<String>,
}

impl Store {
    /// Activities of plans in force (adopted or under revision) past their due date on `as_of`
    /// and neither done nor cancelled, the longest overdue first.
    pub fn overdue_activities(&self, caller: &Caller, as_of: NaiveDate) -> Result<Vec<OverdueActivity>, StoreError> {
        self.read(|conn| {
            let mut query = activities::table
                .inner_join(goals::table.on(goals::id.eq(activities::goal_id)))
                .inner_join(plans::table.on(plans::id.eq(activities::plan_id)))
                .filter(activities::due_date.lt(as_of))
                .filter(activities::status.ne_all([ActivityStatus::Done.as_str(), ActivityStatus::Cancelled.as_str()]))
                .filter(plans::status.eq_any([PlanStatus::Adopted.as_str(), PlanStatus::UnderRevision.as_str()]))
                .order((activities::due_date.asc(), activities::id.asc()))
                .into_boxed();
            // Plans in force are public material; without public read, only those in scope.
            if let ListScope::Limited {
                organizations,
                public: false,
            } = access::list_scope(conn, caller)?
            {
                query = query.filter(plans::organization_id.eq_any(organizations));
            }
            let rows: Vec<OverdueRow> = query
                .select((
                    plans::organization_id,
                    plans::id,
                    plans::title,
                    plans::diary_number,
                    goals::id,
                    goals::number,
                    activities::id,
                    activities::title,
                    activities::due_date,
                    activities::status,
                    activities::responsible_execution,
                ))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .filter_map(|row| {
                    let due_date = row.due_date?;
                    Some(OverdueActivity {
                        organization_id: row.organization_id,
                        plan_id: row.plan_id,
                        plan_title: row.plan_title,
                        diary_number: row.diary_number,
                        goal_id: row.goal_id,
                        goal_number: row.goal_number,
                        activity_id: row.activity_id,
                        activity_title: row.activity_title,
                        due_date,
                        status: row.status,
                        responsible_execution: row.responsible_execution,
                        days_overdue: (as_of - due_date).num_days(),
                    })
                })
                .collect())
        })
    }
}
