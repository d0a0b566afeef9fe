//! Follow-up reports: drafts an editor writes and submits, an approver
//! approves or returns. Approval applies every assessment to the goals and
//! activities through their own status rule, each with its status-change
//! event, in the same transaction as the approval.

use crate::access::{self, Caller};
use crate::db::{DbConnection, Store};
use crate::error::StoreError;
use crate::organizations::check_revision;
use crate::pagination::{Page, PageRequest};
use crate::plans::{load_plan, PlanKey};
use crate::rows::{utc, ActivityRow, GoalRow};
use crate::schema::{activities, follow_ups, goals};
use crate::work::{About, Work};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use planledger_domain::events::{EntityType, EventAction};
use planledger_domain::follow_up::{
    FollowUp, FollowUpId, FollowUpKind, FollowUpPatch, FollowUpStatus, FollowUpTransition, NewFollowUp, PlanContents,
};
use planledger_domain::ids::{ActivityId, GoalId, PlanId};
use planledger_domain::permissions::{Action, Visibility};
use planledger_domain::plan::Plan;
use planledger_domain::DomainError;
use serde_json::json;

/// Filters of `GET /v1/plans/{id}/follow-ups`.
#[derive(Debug, Clone, Default)]
pub struct FollowUpFilter {
    pub status: Option<FollowUpStatus>,
    pub kind: Option<FollowUpKind>,
    pub period: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = follow_ups, treat_none_as_null = true)]
struct FollowUpRow {
    id: String,
    plan_id: String,
    period: String,
    kind: String,
    status: String,
    summary: Option<String>,
    goal_assessments: String,
    activity_updates: String,
    measurements: String,
    submitted_by: Option<String>,
    submitted_at: Option<NaiveDateTime>,
    approved_by: Option<String>,
    approved_at: Option<NaiveDateTime>,
    revision: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl FollowUpRow {
    fn from_domain(report: &FollowUp) -> Result<Self, StoreError> {
        Ok(Self {
            id: report.id.to_string(),
            plan_id: report.plan_id.to_string(),
            period: report.period.clone(),
            kind: report.kind.as_str().to_owned(),
            status: report.status.as_str().to_owned(),
            summary: report.summary.clone(),
            goal_assessments: serde_json::to_string(&report.goal_assessments)?,
            activity_updates: serde_json::to_string(&report.activity_updates)?,
            measurements: serde_json::to_string(&report.measurements)?,
            submitted_by: report.submitted_by.clone(),
            submitted_at: report.submitted_at.map(|at| at.naive_utc()),
            approved_by: report.approved_by.clone(),
            approved_at: report.approved_at.map(|at| at.naive_utc()),
            revision: report.revision,
            created_at: report.created_at.naive_utc(),
            updated_at: report.updated_at.naive_utc(),
        })
    }

    fn into_domain(self) -> Result<FollowUp, StoreError> {
        let corrupt = |what: &str, value: &str| StoreError::Corrupt(format!("unknown follow-up {what} {value:?}"));
        Ok(FollowUp {
            kind: FollowUpKind::parse(&self.kind).ok_or_else(|| corrupt("kind", &self.kind))?,
            status: FollowUpStatus::parse(&self.status).ok_or_else(|| corrupt("status", &self.status))?,
            id: FollowUpId::from_stored(self.id),
            plan_id: PlanId::from_stored(self.plan_id),
            period: self.period,
            summary: self.summary,
            goal_assessments: serde_json::from_str(&self.goal_assessments)?,
            activity_updates: serde_json::from_str(&self.activity_updates)?,
            measurements: serde_json::from_str(&self.measurements)?,
            submitted_by: self.submitted_by,
            submitted_at: self.submitted_at.map(utc),
            approved_by: self.approved_by,
            approved_at: self.approved_at.map(utc),
            revision: self.revision,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
        })
    }
}

fn load(conn: &mut DbConnection, id: &FollowUpId) -> Result<Option<FollowUp>, StoreError> {
    follow_ups::table
        .find(id.as_str())
        .select(FollowUpRow::as_select())
        .first(conn)
        .optional()?
        .map(FollowUpRow::into_domain)
        .transpose()
}

/// A plan's goals and activities are public material once the plan is out of
/// draft; its follow-ups only once they are approved as well.
fn report_target(
    conn: &mut DbConnection,
    plan: &Plan,
    status: Option<FollowUpStatus>,
) -> Result<planledger_domain::permissions::Target, StoreError> {
    let public = plan.status.is_public() && status.is_none_or(|status| status == FollowUpStatus::Approved);
    let visibility = if public { Visibility::Public } else { Visibility::Scoped };
    access::target(conn, &plan.organization_id, visibility)
}

/// Loads a report with its plan and checks that the caller may do `action` to it.
fn authorized_report(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &FollowUpId,
    action: Action,
) -> Result<(FollowUp, Plan), StoreError> {
    let report = load(conn, id)?.ok_or(StoreError::NotFound("follow-up"))?;
    let plan = load_plan(conn, &report.plan_id)?.ok_or(StoreError::NotFound("follow-up"))?;
    let target = report_target(conn, &plan, Some(report.status))?;
    caller.authorize(action, &target, "follow-up")?;
    Ok((report, plan))
}

fn about<'a>(report: &'a FollowUp, plan: &'a Plan) -> About<'a> {
    About {
        entity: EntityType::FollowUp,
        id: report.id.as_str(),
        organization_id: Some(&plan.organization_id),
        plan_id: Some(&plan.id),
    }
}

/// The plan's goals and activities, to check what a report names.
fn plan_contents(conn: &mut DbConnection, plan_id: &PlanId) -> Result<PlanContents, StoreError> {
    let goal_ids: Vec<String> = goals::table
        .filter(goals::plan_id.eq(plan_id.as_str()))
        .select(goals::id)
        .load(conn)?;
    let activity_ids: Vec<String> = activities::table
        .filter(activities::plan_id.eq(plan_id.as_str()))
        .select(activities::id)
        .load(conn)?;
    Ok(PlanContents {
        goals: goal_ids.into_iter().map(GoalId::from_stored).collect(),
        activities: activity_ids.into_iter().map(ActivityId::from_stored).collect(),
    })
}

/// One report not yet approved per plan, period and kind (the unique index
/// backs this; the check gives the clearer answer).
fn ensure_only_open_report(conn: &mut DbConnection, report: &FollowUp) -> Result<(), StoreError> {
    let other: Option<String> = follow_ups::table
        .filter(follow_ups::plan_id.eq(report.plan_id.as_str()))
        .filter(follow_ups::period.eq(&report.period))
        .filter(follow_ups::kind.eq(report.kind.as_str()))
        .filter(follow_ups::status.ne(FollowUpStatus::Approved.as_str()))
        .filter(follow_ups::id.ne(report.id.as_str()))
        .select(follow_ups::id)
        .first(conn)
        .optional()?;
    match other {
        Some(other) => Err(StoreError::Domain(DomainError::Conflict(format!(
            "the plan already has an {} follow-up for {} that is not approved ({other})",
            report.kind.as_str(),
            report.period
        )))),
        None => Ok(()),
    }
}

/// Applies every assessment and update of an approved report to the goals and
/// activities, each change with its own status-change event; a status the
/// goal or activity already has changes nothing.
fn apply_assessments(work: &mut Work<'_>, report: &FollowUp, plan: &Plan) -> Result<(), StoreError> {
    let refuse = |path: String, error: StoreError| match error {
        StoreError::Domain(DomainError::InvalidTransition { from, to, .. }) => StoreError::Domain(
            DomainError::Conflict(format!("{path}: cannot change the status from {from} to {to}")),
        ),
        other => other,
    };
    for (index, assessment) in report.goal_assessments.iter().enumerate() {
        let path = format!("goal_assessments[{index}]");
        let row: GoalRow = goals::table
            .find(assessment.goal_id.as_str())
            .filter(goals::plan_id.eq(plan.id.as_str()))
            .select(GoalRow::as_select())
            .first(work.conn)
            .optional()?
            .ok_or_else(|| DomainError::Conflict(format!("{path}: the goal is no longer part of the plan")))?;
        let position = row.position;
        let mut goal = row.into_domain()?;
        let Some(from) = goal
            .change_status(assessment.status)
            .map_err(|e| refuse(path, e.into()))?
        else {
            continue;
        };
        goal.revision += 1;
        goal.updated_at = work.now;
        diesel::update(goals::table.find(goal.id.as_str()))
            .set(GoalRow::from_domain(&goal, position)?)
            .execute(work.conn)?;
        let about = About {
            entity: EntityType::Goal,
            id: goal.id.as_str(),
            organization_id: Some(&plan.organization_id),
            plan_id: Some(&plan.id),
        };
        let data = json!({
            "from": from.as_str(), "to": goal.status.as_str(), "reason": assessment.comment,
            "follow_up_id": report.id, "snapshot": goal
        });
        work.record(about, EventAction::StatusChanged, data)?;
    }
    for (index, update) in report.activity_updates.iter().enumerate() {
        let path = format!("activity_updates[{index}]");
        let row: ActivityRow = activities::table
            .find(update.activity_id.as_str())
            .filter(activities::plan_id.eq(plan.id.as_str()))
            .select(ActivityRow::as_select())
            .first(work.conn)
            .optional()?
            .ok_or_else(|| DomainError::Conflict(format!("{path}: the activity is no longer part of the plan")))?;
        let position = row.position;
        let mut activity = row.into_domain()?;
        let Some(from) = activity
            .change_status(update.status)
            .map_err(|e| refuse(path, e.into()))?
        else {
            continue;
        };
        activity.revision += 1;
        activity.updated_at = work.now;
        diesel::update(activities::table.find(activity.id.as_str()))
            .set(ActivityRow::from_domain(&activity, position)?)
            .execute(work.conn)?;
        let about = About {
            entity: EntityType::Activity,
            id: activity.id.as_str(),
            organization_id: Some(&plan.organization_id),
            plan_id: Some(&plan.id),
        };
        let data = json!({
            "from": from.as_str(), "to": activity.status.as_str(), "reason": update.comment,
            "follow_up_id": report.id, "snapshot": activity
        });
        work.record(about, EventAction::StatusChanged, data)?;
    }
    Ok(())
}

impl Store {
    /// Writes a new draft report for a plan (editor).
    pub fn create_follow_up(
        &self,
        caller: &Caller,
        plan_id: &PlanId,
        new: NewFollowUp,
    ) -> Result<FollowUp, StoreError> {
        self.write_in_plan(PlanKey::Plan(plan_id), |conn| {
            let plan = load_plan(conn, plan_id)?.ok_or(StoreError::NotFound("plan"))?;
            let target = report_target(conn, &plan, None)?;
            caller.authorize(Action::Edit, &target, "plan")?;
            plan.ensure_editable()?;
            let report = new.into_follow_up(plan_id.clone(), crate::now())?;
            report.check_contents(&plan_contents(conn, plan_id)?)?;
            ensure_only_open_report(conn, &report)?;
            diesel::insert_into(follow_ups::table)
                .values(FollowUpRow::from_domain(&report)?)
                .execute(conn)?;
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now: report.created_at,
            };
            work.record(
                about(&report, &plan),
                EventAction::Created,
                json!({ "snapshot": report }),
            )?;
            Ok(report)
        })
    }

    pub fn follow_up(&self, caller: &Caller, id: &FollowUpId) -> Result<FollowUp, StoreError> {
        self.read(|conn| authorized_report(conn, caller, id, Action::Read).map(|(report, _)| report))
    }

    /// A plan's reports, oldest first: all of them in the caller's scope,
    /// otherwise the approved ones of a public plan.
    pub fn follow_ups(
        &self,
        caller: &Caller,
        plan_id: &PlanId,
        filter: &FollowUpFilter,
        page: &PageRequest,
    ) -> Result<Page<FollowUp>, StoreError> {
        self.read(|conn| {
            let plan = load_plan(conn, plan_id)?.ok_or(StoreError::NotFound("plan"))?;
            let public = report_target(conn, &plan, None)?;
            caller.authorize(Action::Read, &public, "plan")?;
            let scoped = access::target(conn, &plan.organization_id, Visibility::Scoped)?;
            let sees_all = caller.authorize(Action::Read, &scoped, "plan").is_ok();
            let mut query = follow_ups::table
                .filter(follow_ups::plan_id.eq(plan_id.as_str()))
                .order(follow_ups::id.asc())
                .limit(page.fetch_limit())
                .into_boxed();
            if !sees_all {
                query = query.filter(follow_ups::status.eq(FollowUpStatus::Approved.as_str()));
            }
            if let Some(after) = page.after_key()? {
                query = query.filter(follow_ups::id.gt(after));
            }
            if let Some(status) = filter.status {
                query = query.filter(follow_ups::status.eq(status.as_str()));
            }
            if let Some(kind) = filter.kind {
                query = query.filter(follow_ups::kind.eq(kind.as_str()));
            }
            if let Some(period) = &filter.period {
                query = query.filter(follow_ups::period.eq(period));
            }
            let reports = query
                .select(FollowUpRow::as_select())
                .load(conn)?
                .into_iter()
                .map(FollowUpRow::into_domain)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page.finish(reports, |report| report.id.to_string()))
        })
    }

    /// Changes a draft report (editor).
    pub fn update_follow_up(
        &self,
        caller: &Caller,
        id: &FollowUpId,
        patch: FollowUpPatch,
        expected_revision: Option<i64>,
    ) -> Result<FollowUp, StoreError> {
        self.write_in_plan(PlanKey::FollowUp(id), |conn| {
            let (mut report, plan) = authorized_report(conn, caller, id, Action::Edit)?;
            plan.ensure_editable()?;
            check_revision(report.revision, expected_revision)?;
            let changes = report.apply_patch(patch)?;
            if changes.is_empty() {
                return Ok(report);
            }
            report.check_contents(&plan_contents(conn, &plan.id)?)?;
            if changes.contains(&"period") || changes.contains(&"kind") {
                ensure_only_open_report(conn, &report)?;
            }
            let now = crate::now();
            report.revision += 1;
            report.updated_at = now;
            diesel::update(follow_ups::table.find(id.as_str()))
                .set(FollowUpRow::from_domain(&report)?)
                .execute(conn)?;
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now,
            };
            let data = json!({ "changes": changes, "snapshot": report });
            work.record(about(&report, &plan), EventAction::Updated, data)?;
            Ok(report)
        })
    }

    /// Moves a report along its status machine; approval applies its
    /// assessments in the same transaction, or nothing changes.
    pub fn transition_follow_up(
        &self,
        caller: &Caller,
        id: &FollowUpId,
        request: &FollowUpTransition,
        expected_revision: Option<i64>,
    ) -> Result<FollowUp, StoreError> {
        self.write_in_plan(PlanKey::FollowUp(id), |conn| {
            let (mut report, plan) = authorized_report(conn, caller, id, request.to.required_action())?;
            check_revision(report.revision, expected_revision)?;
            let now = crate::now();
            let actor = caller.actor();
            let outcome = report.transition(request, &actor.sub, now)?;
            if outcome.to == FollowUpStatus::Approved {
                plan.ensure_editable()?;
            }
            report.revision += 1;
            report.updated_at = now;
            diesel::update(follow_ups::table.find(id.as_str()))
                .set(FollowUpRow::from_domain(&report)?)
                .execute(conn)?;
            let mut work = Work { conn, actor, now };
            let data = json!({
                "from": outcome.from.as_str(), "to": outcome.to.as_str(), "reason": request.reason,
                "snapshot": report
            });
            work.record(about(&report, &plan), EventAction::StatusChanged, data)?;
            if outcome.to == FollowUpStatus::Approved {
                apply_assessments(&mut work, &report, &plan)?;
            }
            Ok(report)
        })
    }
}
