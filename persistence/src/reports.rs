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
            let rows: Vec<(
                String,
                String,
                String,
                Option<String>,
                String,
                Option<String>,
                String,
                String,
                Option<NaiveDate>,
                String,
                Option<String>,
            )> = query
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
                    let due_date = row.8?;
                    Some(OverdueActivity {
                        organization_id: row.0,
                        plan_id: row.1,
                        plan_title: row.2,
                        diary_number: row.3,
                        goal_id: row.4,
                        goal_number: row.5,
                        activity_id: row.6,
                        activity_title: row.7,
                        due_date,
                        status: row.9,
                        responsible_execution: row.10,
                        days_overdue: (as_of - due_date).num_days(),
                    })
                })
                .collect())
        })
    }
}
