//! Plans, their goals and activities: reads with computed progress, and
//! writes that each append their events in the same transaction.

use crate::access::{self, Caller, ListScope};
use crate::db::{DbConnection, Store};
use crate::error::StoreError;
use crate::events::{EventFilter, EventPage};
use crate::organizations::{self, check_revision};
use crate::pagination::{Page, PageRequest};
use crate::rows::{ActivityRow, ChangelogRow, GoalRow, PlanRow};
use crate::schema::{activities, goals, plan_changelog, plans};
use crate::work::{About, Work};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::dsl::{count_star, max};
use diesel::prelude::*;
use planledger_domain::activity::{Activity, ActivityPatch, ActivityStatus, NewActivity};
use planledger_domain::events::{EntityType, EventAction};
use planledger_domain::goal::{Goal, GoalPatch, GoalView, NewGoal};
use planledger_domain::ids::{ActivityId, FollowUpId, GoalId, OrganizationId, PlanId};
use planledger_domain::permissions::{Action, Visibility};
use planledger_domain::plan::{
    ChangelogEntry, GoalDetail, NewPlan, Plan, PlanDetail, PlanPatch, PlanStatus, PlanView, TransitionRequest,
};
use planledger_domain::progress::{Progress, StatusCounts};
use serde_json::json;
use std::collections::HashMap;

/// Filters of `GET /v1/plans`.
#[derive(Debug, Clone, Default)]
pub struct PlanFilter {
    pub organization_id: Option<OrganizationId>,
    pub status: Option<PlanStatus>,
    /// Text in the title, diary number or summary, case-insensitive.
    pub q: Option<String>,
    /// A year the plan's period covers.
    pub period: Option<i32>,
    pub updated_since: Option<DateTime<Utc>>,
}

/// Filters of `GET /v1/goals/{id}/activities`.
#[derive(Debug, Clone, Default)]
pub struct ActivityFilter {
    pub status: Option<ActivityStatus>,
}

/// What names the plan (or plans) a write changes something under.
pub(crate) enum PlanKey<'a> {
    Plan(&'a PlanId),
    Goal(&'a GoalId),
    FollowUp(&'a FollowUpId),
    Activities(&'a [&'a str]),
}

impl Store {
    /// Runs `work` as a write under the plan `key` names: it first locks the plan's row, so
    /// that every write to the plan's tree (the plan, its changelog, goals, activities and
    /// follow-ups) waits for the one before, and whatever `work` then reads of that tree and
    /// checks (a status, a revision for `If-Match`, a next position) holds at its commit. It
    /// takes the log head only for its append (`Store::write_head_last`): writes under
    /// different plans overlap. A plan that is not there locks nothing, and `work` answers
    /// its own 404.
    pub(crate) fn write_in_plan<T>(
        &self,
        key: PlanKey<'_>,
        work: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.write_head_last(|conn| {
            lock_plans(conn, key)?;
            work(conn)
        })
    }
}

/// Locks the plans' rows on PostgreSQL (`FOR NO KEY UPDATE`: rows that only refer to a plan
/// may still be added under it, as they are under other plans), several in the order of
/// their ids. SQLite's writer holds the whole file already.
fn lock_plans(conn: &mut DbConnection, key: PlanKey<'_>) -> Result<(), StoreError> {
    use crate::schema::follow_ups;
    let DbConnection::Postgres(pg) = conn else {
        return Ok(());
    };
    macro_rules! lock_plans_where {
        ($condition:expr) => {
            plans::table
                .filter($condition)
                .select(plans::id)
                .order(plans::id.asc())
                .for_no_key_update()
                .load::<String>(pg)
        };
    }
    match key {
        PlanKey::Plan(id) => lock_plans_where!(plans::id.eq(id.as_str())),
        PlanKey::Goal(id) => {
            lock_plans_where!(plans::id.eq_any(goals::table.filter(goals::id.eq(id.as_str())).select(goals::plan_id)))
        }
        PlanKey::FollowUp(id) => lock_plans_where!(plans::id.eq_any(
            follow_ups::table
                .filter(follow_ups::id.eq(id.as_str()))
                .select(follow_ups::plan_id)
        )),
        PlanKey::Activities(ids) => lock_plans_where!(plans::id.eq_any(
            activities::table
                .filter(activities::id.eq_any(ids))
                .select(activities::plan_id)
        )),
    }?;
    Ok(())
}

pub(crate) fn load_plan(conn: &mut DbConnection, id: &PlanId) -> Result<Option<Plan>, StoreError> {
    plans::table
        .find(id.as_str())
        .select(PlanRow::as_select())
        .first(conn)
        .optional()?
        .map(PlanRow::into_domain)
        .transpose()
}

fn load_goal(conn: &mut DbConnection, id: &GoalId) -> Result<Option<Goal>, StoreError> {
    goals::table
        .find(id.as_str())
        .select(GoalRow::as_select())
        .first(conn)
        .optional()?
        .map(GoalRow::into_domain)
        .transpose()
}

fn load_activity(conn: &mut DbConnection, id: &ActivityId) -> Result<Option<Activity>, StoreError> {
    activities::table
        .find(id.as_str())
        .select(ActivityRow::as_select())
        .first(conn)
        .optional()?
        .map(ActivityRow::into_domain)
        .transpose()
}

/// Public material is a plan out of draft and everything under it.
fn plan_visibility(plan: &Plan) -> Visibility {
    if plan.status.is_public() {
        Visibility::Public
    } else {
        Visibility::Scoped
    }
}

/// Checks that the caller may do `action` to the plan (or to what is under it).
pub(crate) fn authorize_plan(
    conn: &mut DbConnection,
    caller: &Caller,
    plan: &Plan,
    action: Action,
) -> Result<(), StoreError> {
    if caller.allowed_anywhere(action, plan_visibility(plan)) {
        return Ok(());
    }
    let target = access::target(conn, &plan.organization_id, plan_visibility(plan))?;
    caller.authorize(action, &target, "plan")
}

/// Loads a plan and checks that the caller may do `action` to it (or to what is under it).
fn authorized_plan(conn: &mut DbConnection, caller: &Caller, id: &PlanId, action: Action) -> Result<Plan, StoreError> {
    let plan = load_plan(conn, id)?.ok_or(StoreError::NotFound("plan"))?;
    authorize_plan(conn, caller, &plan, action)?;
    Ok(plan)
}

/// A goal another goal breaks down must exist and be visible to the caller.
fn ensure_visible_goal(conn: &mut DbConnection, caller: &Caller, id: &GoalId) -> Result<(), StoreError> {
    let (field, message) = ("parent_goal_id", "is not a known goal");
    let goal = load_goal(conn, id)?.ok_or_else(|| StoreError::invalid(field, message))?;
    authorized_plan(conn, caller, &goal.plan_id, Action::Read).map_err(|e| e.unknown_reference(field, message))?;
    Ok(())
}

fn counts_by(
    conn: &mut DbConnection,
    column_is_plan: bool,
    ids: &[&str],
) -> Result<HashMap<String, StatusCounts>, StoreError> {
    let rows: Vec<(String, String, i64)> = if column_is_plan {
        activities::table
            .filter(activities::plan_id.eq_any(ids))
            .group_by((activities::plan_id, activities::status))
            .select((activities::plan_id, activities::status, count_star()))
            .load(conn)?
    } else {
        activities::table
            .filter(activities::goal_id.eq_any(ids))
            .group_by((activities::goal_id, activities::status))
            .select((activities::goal_id, activities::status, count_star()))
            .load(conn)?
    };
    let mut counts: HashMap<String, StatusCounts> = HashMap::new();
    for (id, status, count) in rows {
        let status = ActivityStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown activity status {status:?}")))?;
        counts.entry(id).or_default().add(status, count);
    }
    Ok(counts)
}

fn plan_views(conn: &mut DbConnection, plans: Vec<Plan>) -> Result<Vec<PlanView>, StoreError> {
    let ids: Vec<&str> = plans.iter().map(|plan| plan.id.as_str()).collect();
    let counts = counts_by(conn, true, &ids)?;
    Ok(plans
        .into_iter()
        .map(|plan| {
            let progress = Progress::from_counts(counts.get(plan.id.as_str()).copied().unwrap_or_default());
            PlanView { plan, progress }
        })
        .collect())
}

fn goal_views(conn: &mut DbConnection, goals: Vec<Goal>) -> Result<Vec<GoalView>, StoreError> {
    let ids: Vec<&str> = goals.iter().map(|goal| goal.id.as_str()).collect();
    let counts = counts_by(conn, false, &ids)?;
    Ok(goals
        .into_iter()
        .map(|goal| {
            let progress = Progress::from_counts(counts.get(goal.id.as_str()).copied().unwrap_or_default());
            GoalView { goal, progress }
        })
        .collect())
}

fn next_goal_position(conn: &mut DbConnection, plan_id: &PlanId) -> Result<i32, StoreError> {
    let last: Option<i32> = goals::table
        .filter(goals::plan_id.eq(plan_id.as_str()))
        .select(max(goals::position))
        .first(conn)?;
    Ok(last.map_or(0, |last| last + 1))
}

fn next_activity_position(conn: &mut DbConnection, goal_id: &GoalId) -> Result<i32, StoreError> {
    let last: Option<i32> = activities::table
        .filter(activities::goal_id.eq(goal_id.as_str()))
        .select(max(activities::position))
        .first(conn)?;
    Ok(last.map_or(0, |last| last + 1))
}

fn plan_about(plan: &Plan) -> About<'_> {
    About {
        entity: EntityType::Plan,
        id: plan.id.as_str(),
        organization_id: Some(&plan.organization_id),
        plan_id: Some(&plan.id),
    }
}

/// Inserts a plan with its changelog and records `plan.created`.
pub(crate) fn insert_plan(work: &mut Work<'_>, plan: &Plan, changelog: &[ChangelogEntry]) -> Result<(), StoreError> {
    diesel::insert_into(plans::table)
        .values(PlanRow::from_domain(plan)?)
        .execute(work.conn)?;
    // One row at a time: MultiConnection has no batch insert.
    for (position, entry) in changelog.iter().enumerate() {
        let row = ChangelogRow::from_domain(&plan.id, position as i32, entry);
        diesel::insert_into(plan_changelog::table)
            .values(row)
            .execute(work.conn)?;
    }
    let data = if changelog.is_empty() {
        json!({ "snapshot": plan })
    } else {
        json!({ "snapshot": plan, "changelog": changelog })
    };
    work.record(plan_about(plan), EventAction::Created, data)?;
    Ok(())
}

/// Inserts a goal at `position` and records `goal.created`.
pub(crate) fn insert_goal(
    work: &mut Work<'_>,
    goal: &Goal,
    position: i32,
    organization_id: &OrganizationId,
) -> Result<(), StoreError> {
    diesel::insert_into(goals::table)
        .values(GoalRow::from_domain(goal, position)?)
        .execute(work.conn)?;
    let about = About {
        entity: EntityType::Goal,
        id: goal.id.as_str(),
        organization_id: Some(organization_id),
        plan_id: Some(&goal.plan_id),
    };
    work.record(about, EventAction::Created, json!({ "snapshot": goal }))?;
    Ok(())
}

/// Inserts an activity at `position` and records `activity.created`.
pub(crate) fn insert_activity(
    work: &mut Work<'_>,
    activity: &Activity,
    position: i32,
    organization_id: &OrganizationId,
) -> Result<(), StoreError> {
    diesel::insert_into(activities::table)
        .values(ActivityRow::from_domain(activity, position)?)
        .execute(work.conn)?;
    let about = About {
        entity: EntityType::Activity,
        id: activity.id.as_str(),
        organization_id: Some(organization_id),
        plan_id: Some(&activity.plan_id),
    };
    work.record(about, EventAction::Created, json!({ "snapshot": activity }))?;
    Ok(())
}

impl Store {
    pub fn create_plan(&self, caller: &Caller, new: NewPlan) -> Result<PlanView, StoreError> {
        self.write(|conn| {
            let plan = new.into_plan(crate::now())?;
            if organizations::load(conn, &plan.organization_id)?.is_none() {
                return Err(StoreError::invalid("organization_id", "is not a known organization"));
            }
            let target = access::target(conn, &plan.organization_id, Visibility::Directory)?;
            caller.authorize(Action::Edit, &target, "organization")?;
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now: plan.created_at,
            };
            insert_plan(&mut work, &plan, &[])?;
            Ok(PlanView {
                plan,
                progress: Progress::default(),
            })
        })
    }

    /// The plan with its goals and activities, and the seq of the last event
    /// under it (which moves whenever anything shown here changes).
    pub(crate) fn plan_detail(&self, caller: &Caller, id: &PlanId) -> Result<(PlanDetail, i64), StoreError> {
        use crate::schema::events;
        self.read(|conn| {
            let plan = authorized_plan(conn, caller, id, Action::Read)?;
            let detail = detail_of(conn, plan)?;
            let last_seq: Option<i64> = events::table
                .filter(events::plan_id.eq(id.as_str()))
                .select(max(events::seq))
                .first(conn)?;
            Ok((detail, last_seq.unwrap_or(0)))
        })
    }

    /// The plan alone, with its progress.
    pub fn plan(&self, caller: &Caller, id: &PlanId) -> Result<PlanView, StoreError> {
        self.read(|conn| {
            let plan = authorized_plan(conn, caller, id, Action::Read)?;
            Ok(plan_views(conn, vec![plan])?.remove(0))
        })
    }

    pub fn plans(
        &self,
        caller: &Caller,
        filter: &PlanFilter,
        page: &PageRequest,
    ) -> Result<Page<PlanView>, StoreError> {
        self.read(|conn| {
            let scope = access::list_scope(conn, caller)?;
            let mut query = plans::table
                .order(plans::id.asc())
                .limit(page.fetch_limit())
                .into_boxed();
            match &scope {
                ListScope::Everything => {}
                ListScope::Limited {
                    organizations,
                    public: true,
                } if organizations.is_empty() => {
                    query = query.filter(plans::status.ne(PlanStatus::Draft.as_str()));
                }
                ListScope::Limited {
                    organizations,
                    public: true,
                } => {
                    query = query.filter(
                        plans::organization_id
                            .eq_any(organizations)
                            .or(plans::status.ne(PlanStatus::Draft.as_str())),
                    );
                }
                ListScope::Limited {
                    organizations,
                    public: false,
                } => {
                    query = query.filter(plans::organization_id.eq_any(organizations));
                }
            }
            if let Some(after) = page.after_key()? {
                query = query.filter(plans::id.gt(after));
            }
            if let Some(organization) = &filter.organization_id {
                query = query.filter(plans::organization_id.eq(organization.as_str()));
            }
            if let Some(status) = filter.status {
                query = query.filter(plans::status.eq(status.as_str()));
            }
            if let Some(q) = &filter.q {
                let escaped = q
                    .to_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                query = query.filter(plans::search_text.like(format!("%{escaped}%")).escape('\\'));
            }
            if let Some(year) = filter.period {
                let (first, last) = year_bounds(year)?;
                query = query
                    .filter(plans::period_start.le(last).or(plans::period_start.is_null()))
                    .filter(plans::period_end.ge(first).or(plans::period_end.is_null()));
            }
            if let Some(since) = filter.updated_since {
                query = query.filter(plans::updated_at.ge(since.naive_utc()));
            }
            let plans = query
                .select(PlanRow::as_select())
                .load(conn)?
                .into_iter()
                .map(PlanRow::into_domain)
                .collect::<Result<Vec<_>, _>>()?;
            let page = page.finish(plans, |plan| plan.id.to_string());
            let items = plan_views(conn, page.items)?;
            Ok(Page {
                items,
                next_cursor: page.next_cursor,
            })
        })
    }

    pub fn update_plan(
        &self,
        caller: &Caller,
        id: &PlanId,
        patch: PlanPatch,
        expected_revision: Option<i64>,
    ) -> Result<PlanView, StoreError> {
        self.write_in_plan(PlanKey::Plan(id), |conn| {
            let mut plan = authorized_plan(conn, caller, id, Action::Edit)?;
            check_revision(plan.revision, expected_revision)?;
            let changes = plan.apply_patch(patch)?;
            if !changes.is_empty() {
                let now = crate::now();
                plan.revision += 1;
                plan.updated_at = now;
                diesel::update(plans::table.find(id.as_str()))
                    .set(PlanRow::from_domain(&plan)?)
                    .execute(conn)?;
                let mut work = Work {
                    conn,
                    actor: caller.actor(),
                    now,
                };
                work.record(
                    plan_about(&plan),
                    EventAction::Updated,
                    json!({ "changes": changes, "snapshot": plan }),
                )?;
            }
            Ok(plan_views(conn, vec![plan])?.remove(0))
        })
    }

    pub fn transition_plan(
        &self,
        caller: &Caller,
        id: &PlanId,
        request: &TransitionRequest,
        expected_revision: Option<i64>,
    ) -> Result<PlanView, StoreError> {
        self.write_in_plan(PlanKey::Plan(id), |conn| {
            // Withdrawing a draft is the editors' call; every decision on a plan is the approvers'.
            let action = if request.to == PlanStatus::Withdrawn {
                Action::Edit
            } else {
                Action::Approve
            };
            let mut plan = authorized_plan(conn, caller, id, action)?;
            check_revision(plan.revision, expected_revision)?;
            let outcome = plan.transition(request)?;
            if let Some(successor) = &plan.superseded_by {
                authorized_plan(conn, caller, successor, Action::Read)
                    .map_err(|e| e.unknown_reference("superseded_by", "is not a known plan"))?;
            }
            let now = crate::now();
            plan.revision += 1;
            plan.updated_at = now;
            diesel::update(plans::table.find(id.as_str()))
                .set(PlanRow::from_domain(&plan)?)
                .execute(conn)?;
            if let Some(entry) = &outcome.changelog_entry {
                let position: Option<i32> = plan_changelog::table
                    .filter(plan_changelog::plan_id.eq(id.as_str()))
                    .select(max(plan_changelog::position))
                    .first(conn)?;
                let row = ChangelogRow::from_domain(id, position.map_or(0, |p| p + 1), entry);
                diesel::insert_into(plan_changelog::table).values(row).execute(conn)?;
            }
            let mut data = json!({
                "from": outcome.from.as_str(),
                "to": outcome.to.as_str(),
                "reason": request.reason,
                "snapshot": plan,
            });
            if let Some(entry) = &outcome.changelog_entry {
                data["changelog_entry"] = json!(entry);
            }
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now,
            };
            work.record(plan_about(&plan), EventAction::StatusChanged, data)?;
            Ok(plan_views(conn, vec![plan])?.remove(0))
        })
    }

    pub fn plan_changelog(&self, caller: &Caller, id: &PlanId) -> Result<Vec<ChangelogEntry>, StoreError> {
        self.read(|conn| {
            authorized_plan(conn, caller, id, Action::Read)?;
            changelog_of(conn, id)
        })
    }

    /// The events of the plan and everything under it, oldest first.
    pub fn plan_history(&self, caller: &Caller, id: &PlanId, after: i64, limit: i64) -> Result<EventPage, StoreError> {
        self.read(|conn| authorized_plan(conn, caller, id, Action::Read).map(drop))?;
        self.events(&EventFilter {
            after,
            limit,
            plan_id: Some(id.clone()),
            ..EventFilter::default()
        })
    }

    pub fn create_goal(&self, caller: &Caller, plan_id: &PlanId, new: NewGoal) -> Result<GoalView, StoreError> {
        self.write_in_plan(PlanKey::Plan(plan_id), |conn| {
            let plan = authorized_plan(conn, caller, plan_id, Action::Edit)?;
            plan.ensure_editable()?;
            let goal = new.into_goal(plan_id.clone(), crate::now())?;
            if let Some(parent) = &goal.parent_goal_id {
                ensure_visible_goal(conn, caller, parent)?;
            }
            let position = next_goal_position(conn, plan_id)?;
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now: goal.created_at,
            };
            insert_goal(&mut work, &goal, position, &plan.organization_id)?;
            Ok(GoalView {
                goal,
                progress: Progress::default(),
            })
        })
    }

    pub fn goal(&self, caller: &Caller, id: &GoalId) -> Result<GoalView, StoreError> {
        self.read(|conn| {
            let goal = load_goal(conn, id)?.ok_or(StoreError::NotFound("goal"))?;
            authorized_plan(conn, caller, &goal.plan_id, Action::Read).map_err(hide_as("goal"))?;
            Ok(goal_views(conn, vec![goal])?.remove(0))
        })
    }

    pub fn goals(&self, caller: &Caller, plan_id: &PlanId, page: &PageRequest) -> Result<Page<GoalView>, StoreError> {
        self.read(|conn| {
            authorized_plan(conn, caller, plan_id, Action::Read)?;
            let mut query = goals::table
                .filter(goals::plan_id.eq(plan_id.as_str()))
                .order(goals::position.asc())
                .limit(page.fetch_limit())
                .into_boxed();
            if let Some(after) = page.after_key()? {
                let position: i32 = after.parse().map_err(|_| StoreError::InvalidCursor)?;
                query = query.filter(goals::position.gt(position));
            }
            let rows: Vec<GoalRow> = query.select(GoalRow::as_select()).load(conn)?;
            let positioned = rows
                .into_iter()
                .map(|row| Ok((row.position, row.into_domain()?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let page = page.finish(positioned, |(position, _)| position.to_string());
            let views = goal_views(conn, page.items.into_iter().map(|(_, goal)| goal).collect())?;
            Ok(Page {
                items: views,
                next_cursor: page.next_cursor,
            })
        })
    }

    pub fn update_goal(
        &self,
        caller: &Caller,
        id: &GoalId,
        patch: GoalPatch,
        expected_revision: Option<i64>,
    ) -> Result<GoalView, StoreError> {
        self.write_in_plan(PlanKey::Goal(id), |conn| {
            let row: GoalRow = goals::table
                .find(id.as_str())
                .select(GoalRow::as_select())
                .first(conn)
                .optional()?
                .ok_or(StoreError::NotFound("goal"))?;
            let position = row.position;
            let mut goal = row.into_domain()?;
            let plan = authorized_plan(conn, caller, &goal.plan_id, Action::Edit).map_err(hide_as("goal"))?;
            plan.ensure_editable()?;
            check_revision(goal.revision, expected_revision)?;
            let (status, reason) = (patch.status, patch.reason.clone());
            let changes = goal.apply_patch(patch)?;
            if changes.contains(&"parent_goal_id") {
                if let Some(parent) = &goal.parent_goal_id {
                    ensure_visible_goal(conn, caller, parent)?;
                }
            }
            let previous_status = match status {
                Some(to) => goal.change_status(to)?,
                None => None,
            };
            if changes.is_empty() && previous_status.is_none() {
                return Ok(goal_views(conn, vec![goal])?.remove(0));
            }
            let now = crate::now();
            goal.revision += 1;
            goal.updated_at = now;
            diesel::update(goals::table.find(id.as_str()))
                .set(GoalRow::from_domain(&goal, position)?)
                .execute(conn)?;
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now,
            };
            let about = About {
                entity: EntityType::Goal,
                id: id.as_str(),
                organization_id: Some(&plan.organization_id),
                plan_id: Some(&plan.id),
            };
            let status_change = previous_status.map(|from| (from.as_str(), goal.status.as_str(), reason));
            work.record_patch(about, &changes, status_change, &goal)?;
            Ok(goal_views(conn, vec![goal])?.remove(0))
        })
    }

    pub fn create_activity(&self, caller: &Caller, goal_id: &GoalId, new: NewActivity) -> Result<Activity, StoreError> {
        self.write_in_plan(PlanKey::Goal(goal_id), |conn| {
            let goal = load_goal(conn, goal_id)?.ok_or(StoreError::NotFound("goal"))?;
            let plan = authorized_plan(conn, caller, &goal.plan_id, Action::Edit).map_err(hide_as("goal"))?;
            plan.ensure_editable()?;
            let activity = new.into_activity(goal_id.clone(), plan.id.clone(), crate::now())?;
            let position = next_activity_position(conn, goal_id)?;
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now: activity.created_at,
            };
            insert_activity(&mut work, &activity, position, &plan.organization_id)?;
            Ok(activity)
        })
    }

    pub fn activity(&self, caller: &Caller, id: &ActivityId) -> Result<Activity, StoreError> {
        self.read(|conn| {
            let activity = load_activity(conn, id)?.ok_or(StoreError::NotFound("activity"))?;
            authorized_plan(conn, caller, &activity.plan_id, Action::Read).map_err(hide_as("activity"))?;
            Ok(activity)
        })
    }

    pub fn activities(
        &self,
        caller: &Caller,
        goal_id: &GoalId,
        filter: &ActivityFilter,
        page: &PageRequest,
    ) -> Result<Page<Activity>, StoreError> {
        self.read(|conn| {
            let goal = load_goal(conn, goal_id)?.ok_or(StoreError::NotFound("goal"))?;
            authorized_plan(conn, caller, &goal.plan_id, Action::Read).map_err(hide_as("goal"))?;
            let mut query = activities::table
                .filter(activities::goal_id.eq(goal_id.as_str()))
                .order(activities::position.asc())
                .limit(page.fetch_limit())
                .into_boxed();
            if let Some(after) = page.after_key()? {
                let position: i32 = after.parse().map_err(|_| StoreError::InvalidCursor)?;
                query = query.filter(activities::position.gt(position));
            }
            if let Some(status) = filter.status {
                query = query.filter(activities::status.eq(status.as_str()));
            }
            let rows: Vec<ActivityRow> = query.select(ActivityRow::as_select()).load(conn)?;
            let positioned = rows
                .into_iter()
                .map(|row| Ok((row.position, row.into_domain()?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(page
                .finish(positioned, |(position, _)| position.to_string())
                .map(|(_, activity)| activity))
        })
    }

    pub fn update_activity(
        &self,
        caller: &Caller,
        id: &ActivityId,
        patch: ActivityPatch,
        expected_revision: Option<i64>,
    ) -> Result<Activity, StoreError> {
        self.write_in_plan(PlanKey::Activities(&[id.as_str()]), |conn| {
            update_activity_in(conn, caller, id, patch, expected_revision)
        })
    }

    /// Changes the status of many activities in one write transaction, all or nothing, with
    /// the checks and events of `PATCH /v1/activities/{id}` `{"status": …}`: the plan must be
    /// readable, editable and the caller allowed to edit it, the domain's status rule decides,
    /// each change bumps the revision and appends its `activity.status_changed` event (with
    /// the snapshot) in order. Rows are read and written in bulk, so it suits bulk tools such
    /// as the benchmark's data generator. Returns how many events were appended.
    pub fn change_activity_statuses(
        &self,
        caller: &Caller,
        changes: &[(ActivityId, ActivityStatus, Option<String>)],
    ) -> Result<usize, StoreError> {
        let ids: Vec<&str> = changes.iter().map(|(id, _, _)| id.as_str()).collect();
        self.write_in_plan(PlanKey::Activities(&ids), |conn| {
            let mut rows: HashMap<String, ActivityRow> = HashMap::new();
            for chunk in changes.chunks(1000) {
                let ids: Vec<&str> = chunk.iter().map(|(id, _, _)| id.as_str()).collect();
                for row in activities::table
                    .filter(activities::id.eq_any(ids))
                    .select(ActivityRow::as_select())
                    .load(conn)?
                {
                    rows.insert(row.id.clone(), row);
                }
            }
            let mut plans: HashMap<String, Plan> = HashMap::new();
            let mut appended = 0;
            let mut changed: Vec<String> = Vec::new();
            for (id, to, reason) in changes {
                let row = rows.get(id.as_str()).ok_or(StoreError::NotFound("activity"))?;
                let (position, mut activity) = (row.position, row.clone().into_domain()?);
                if !plans.contains_key(activity.plan_id.as_str()) {
                    let plan = authorized_plan(conn, caller, &activity.plan_id, Action::Edit).map_err(hide_as("activity"))?;
                    plans.insert(plan.id.to_string(), plan);
                }
                let plan = &plans[activity.plan_id.as_str()];
                plan.ensure_editable()?;
                let Some(from) = activity.change_status(*to)? else {
                    continue;
                };
                let now = crate::now();
                activity.revision += 1;
                activity.updated_at = now;
                rows.insert(id.to_string(), ActivityRow::from_domain(&activity, position)?);
                changed.push(id.to_string());
                let about = About {
                    entity: EntityType::Activity,
                    id: id.as_str(),
                    organization_id: Some(&plan.organization_id),
                    plan_id: Some(&plan.id),
                };
                let data =
                    json!({ "from": from.as_str(), "to": activity.status.as_str(), "reason": reason, "snapshot": activity });
                Work {
                    conn: &mut *conn,
                    actor: caller.actor(),
                    now,
                }
                .record(about, EventAction::StatusChanged, data)?;
                appended += 1;
            }
            changed.sort();
            changed.dedup();
            let changed: Vec<ActivityRow> = changed.iter().map(|id| rows[id.as_str()].clone()).collect();
            match conn {
                // One statement a thousand rows: each row is the activity's final state.
                DbConnection::Postgres(pg) => {
                    use diesel::upsert::excluded;
                    for chunk in changed.chunks(1000) {
                        diesel::insert_into(activities::table)
                            .values(chunk)
                            .on_conflict(activities::id)
                            .do_update()
                            .set((
                                activities::status.eq(excluded(activities::status)),
                                activities::revision.eq(excluded(activities::revision)),
                                activities::updated_at.eq(excluded(activities::updated_at)),
                            ))
                            .execute(pg)?;
                    }
                }
                DbConnection::Sqlite(sqlite) => {
                    for row in &changed {
                        diesel::update(activities::table.find(row.id.as_str()))
                            .set(row)
                            .execute(sqlite)?;
                    }
                }
            }
            Ok(appended)
        })
    }

    /// Every activity's id and status, oldest plan first: the input of bulk tools.
    pub fn activity_statuses(&self) -> Result<Vec<(ActivityId, ActivityStatus)>, StoreError> {
        self.read(|conn| {
            activities::table
                .order((
                    activities::plan_id.asc(),
                    activities::goal_id.asc(),
                    activities::position.asc(),
                ))
                .select((activities::id, activities::status))
                .load::<(String, String)>(conn)?
                .into_iter()
                .map(|(id, status)| {
                    let status = ActivityStatus::parse(&status)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown activity status {status:?}")))?;
                    Ok((ActivityId::from_stored(id), status))
                })
                .collect()
        })
    }
}

/// `update_activity` inside the caller's write transaction.
fn update_activity_in(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &ActivityId,
    patch: ActivityPatch,
    expected_revision: Option<i64>,
) -> Result<Activity, StoreError> {
    let row: ActivityRow = activities::table
        .find(id.as_str())
        .select(ActivityRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound("activity"))?;
    let position = row.position;
    let mut activity = row.into_domain()?;
    let plan = authorized_plan(conn, caller, &activity.plan_id, Action::Edit).map_err(hide_as("activity"))?;
    plan.ensure_editable()?;
    check_revision(activity.revision, expected_revision)?;
    let (status, reason) = (patch.status, patch.reason.clone());
    let changes = activity.apply_patch(patch)?;
    let previous_status = match status {
        Some(to) => activity.change_status(to)?,
        None => None,
    };
    if changes.is_empty() && previous_status.is_none() {
        return Ok(activity);
    }
    let now = crate::now();
    activity.revision += 1;
    activity.updated_at = now;
    diesel::update(activities::table.find(id.as_str()))
        .set(ActivityRow::from_domain(&activity, position)?)
        .execute(conn)?;
    let mut work = Work {
        conn,
        actor: caller.actor(),
        now,
    };
    let about = About {
        entity: EntityType::Activity,
        id: id.as_str(),
        organization_id: Some(&plan.organization_id),
        plan_id: Some(&plan.id),
    };
    let status_change = previous_status.map(|from| (from.as_str(), activity.status.as_str(), reason));
    work.record_patch(about, &changes, status_change, &activity)?;
    Ok(activity)
}

/// A goal or activity under a hidden plan is itself not found, by its own name.
fn hide_as(entity: &'static str) -> impl Fn(StoreError) -> StoreError {
    move |error| match error {
        StoreError::NotFound(_) => StoreError::NotFound(entity),
        other => other,
    }
}

/// The first and last day of `year`.
pub(crate) fn year_bounds(year: i32) -> Result<(NaiveDate, NaiveDate), StoreError> {
    let first = NaiveDate::from_ymd_opt(year, 1, 1);
    let last = NaiveDate::from_ymd_opt(year, 12, 31);
    first
        .zip(last)
        .ok_or_else(|| StoreError::invalid("period", "must be a year"))
}

impl Store {
    /// The plan with its goals and activities as they stood at `as_of`,
    /// rebuilt from the snapshots its events carry.
    pub fn plan_as_of(&self, caller: &Caller, id: &PlanId, as_of: DateTime<Utc>) -> Result<PlanDetail, StoreError> {
        use crate::schema::events;
        self.read(|conn| {
            let current = authorized_plan(conn, caller, id, Action::Read)?;
            let snapshots: Vec<(String, String)> = events::table
                .filter(events::plan_id.eq(id.as_str()))
                .filter(events::occurred_at.le(as_of.naive_utc()))
                .order(events::seq.asc())
                .select((events::subject_type, events::data))
                .load(conn)?;
            let mut plan: Option<Plan> = None;
            let mut goals: Vec<Goal> = Vec::new();
            let mut activities: Vec<Activity> = Vec::new();
            for (subject, data) in snapshots {
                let mut data: serde_json::Value = serde_json::from_str(&data)?;
                let snapshot = data["snapshot"].take();
                match subject.as_str() {
                    "plan" => plan = Some(serde_json::from_value(snapshot)?),
                    "goal" => upsert(&mut goals, serde_json::from_value(snapshot)?, |g: &Goal| g.id.clone()),
                    "activity" => upsert(&mut activities, serde_json::from_value(snapshot)?, |a: &Activity| {
                        a.id.clone()
                    }),
                    _ => {}
                }
            }
            let plan = plan.ok_or(StoreError::NotFound("plan at that time"))?;
            // A plan that was a draft then is shown only to those who may read drafts.
            if !plan.status.is_public() && current.status.is_public() {
                let target = access::target(conn, &plan.organization_id, Visibility::Scoped)?;
                caller.authorize(Action::Read, &target, "plan at that time")?;
            }
            Ok(assemble_detail(plan, goals, activities))
        })
    }
}

/// A plan with its goals and activities, read in the caller's transaction.
pub(crate) fn detail_of(conn: &mut DbConnection, plan: Plan) -> Result<PlanDetail, StoreError> {
    let goals = goals::table
        .filter(goals::plan_id.eq(plan.id.as_str()))
        .order(goals::position.asc())
        .select(GoalRow::as_select())
        .load(conn)?
        .into_iter()
        .map(GoalRow::into_domain)
        .collect::<Result<Vec<_>, _>>()?;
    let activities = activities::table
        .filter(activities::plan_id.eq(plan.id.as_str()))
        .order((activities::goal_id.asc(), activities::position.asc()))
        .select(ActivityRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ActivityRow::into_domain)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(assemble_detail(plan, goals, activities))
}

/// A plan's change log, oldest first.
pub(crate) fn changelog_of(conn: &mut DbConnection, id: &PlanId) -> Result<Vec<ChangelogEntry>, StoreError> {
    Ok(plan_changelog::table
        .filter(plan_changelog::plan_id.eq(id.as_str()))
        .order(plan_changelog::position.asc())
        .select(ChangelogRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ChangelogRow::into_domain)
        .collect())
}

/// Whether the caller may read the plan (hidden and forbidden alike are no).
pub(crate) fn readable(conn: &mut DbConnection, caller: &Caller, plan: &Plan) -> Result<bool, StoreError> {
    match authorize_plan(conn, caller, plan, Action::Read) {
        Ok(()) => Ok(true),
        Err(StoreError::NotFound(_) | StoreError::Denied(_)) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Replaces the item with the same key, or appends it (keeping creation order).
fn upsert<T, K: PartialEq>(items: &mut Vec<T>, item: T, key: impl Fn(&T) -> K) {
    match items.iter().position(|existing| key(existing) == key(&item)) {
        Some(index) => items[index] = item,
        None => items.push(item),
    }
}

/// A plan detail from its plan, goals in order, and activities in order, with progress counted.
fn assemble_detail(plan: Plan, goals: Vec<Goal>, activities: Vec<Activity>) -> PlanDetail {
    let mut by_goal: HashMap<String, Vec<Activity>> = HashMap::new();
    for activity in activities {
        by_goal.entry(activity.goal_id.to_string()).or_default().push(activity);
    }
    let mut plan_counts = StatusCounts::default();
    let goals = goals
        .into_iter()
        .map(|goal| {
            let activities = by_goal.remove(goal.id.as_str()).unwrap_or_default();
            let mut counts = StatusCounts::default();
            for activity in &activities {
                counts.add(activity.status, 1);
                plan_counts.add(activity.status, 1);
            }
            GoalDetail {
                goal,
                progress: Progress::from_counts(counts),
                activities,
            }
        })
        .collect();
    PlanDetail {
        plan,
        progress: Progress::from_counts(plan_counts),
        goals,
    }
}
