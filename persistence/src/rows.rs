//! Table rows and their conversion to and from the domain entities. JSON
//! columns are Text; timestamps are naive UTC.

use crate::error::StoreError;
use crate::schema::{activities, goals, organizations, plan_changelog, plans};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use planledger_domain::activity::{Activity, ActivityStatus};
use planledger_domain::goal::{Goal, GoalStatus};
use planledger_domain::ids::{ActivityId, GoalId, IndicatorId, OrganizationId, PlanId};
use planledger_domain::organization::{Organization, OrganizationKind};
use planledger_domain::plan::{ChangelogEntry, Plan, PlanStatus};

pub(crate) fn utc(naive: NaiveDateTime) -> DateTime<Utc> {
    naive.and_utc()
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} {value:?}"))
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = organizations, treat_none_as_null = true)]
pub(crate) struct OrganizationRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub code: Option<String>,
    pub parent_id: Option<String>,
    pub member_ids: String,
    pub revision: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl OrganizationRow {
    pub fn from_domain(org: &Organization) -> Result<Self, StoreError> {
        Ok(Self {
            id: org.id.to_string(),
            name: org.name.clone(),
            kind: org.kind.as_str().to_owned(),
            code: org.code.clone(),
            parent_id: org.parent_id.as_ref().map(ToString::to_string),
            member_ids: serde_json::to_string(&org.member_ids)?,
            revision: org.revision,
            created_at: org.created_at.naive_utc(),
            updated_at: org.updated_at.naive_utc(),
        })
    }

    pub fn into_domain(self) -> Result<Organization, StoreError> {
        Ok(Organization {
            kind: OrganizationKind::parse(&self.kind).ok_or_else(|| corrupt("organization kind", &self.kind))?,
            id: OrganizationId::from_stored(self.id),
            name: self.name,
            code: self.code,
            parent_id: self.parent_id.map(OrganizationId::from_stored),
            member_ids: serde_json::from_str(&self.member_ids)?,
            revision: self.revision,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = plans, treat_none_as_null = true)]
pub(crate) struct PlanRow {
    pub id: String,
    pub organization_id: String,
    pub title: String,
    pub diary_number: Option<String>,
    pub document_version: Option<String>,
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
    pub owner: Option<String>,
    pub summary: Option<String>,
    pub perspectives: String,
    pub status: String,
    pub decision: Option<String>,
    pub background_decisions: String,
    pub superseded_by: Option<String>,
    pub search_text: String,
    pub revision: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl PlanRow {
    pub fn from_domain(plan: &Plan) -> Result<Self, StoreError> {
        // Lower-cased in Rust so `q` matches å, ä and ö the same way on both backends.
        let search_text = [
            Some(plan.title.as_str()),
            plan.diary_number.as_deref(),
            plan.summary.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase();
        Ok(Self {
            id: plan.id.to_string(),
            organization_id: plan.organization_id.to_string(),
            title: plan.title.clone(),
            diary_number: plan.diary_number.clone(),
            document_version: plan.document_version.clone(),
            period_start: plan.period_start,
            period_end: plan.period_end,
            owner: plan.owner.clone(),
            summary: plan.summary.clone(),
            perspectives: serde_json::to_string(&plan.perspectives)?,
            status: plan.status.as_str().to_owned(),
            decision: plan.decision.as_ref().map(serde_json::to_string).transpose()?,
            background_decisions: serde_json::to_string(&plan.background_decisions)?,
            superseded_by: plan.superseded_by.as_ref().map(ToString::to_string),
            search_text,
            revision: plan.revision,
            created_at: plan.created_at.naive_utc(),
            updated_at: plan.updated_at.naive_utc(),
        })
    }

    pub fn into_domain(self) -> Result<Plan, StoreError> {
        Ok(Plan {
            status: PlanStatus::parse(&self.status).ok_or_else(|| corrupt("plan status", &self.status))?,
            id: PlanId::from_stored(self.id),
            organization_id: OrganizationId::from_stored(self.organization_id),
            title: self.title,
            diary_number: self.diary_number,
            document_version: self.document_version,
            period_start: self.period_start,
            period_end: self.period_end,
            owner: self.owner,
            summary: self.summary,
            perspectives: serde_json::from_str(&self.perspectives)?,
            decision: self.decision.as_deref().map(serde_json::from_str).transpose()?,
            background_decisions: serde_json::from_str(&self.background_decisions)?,
            superseded_by: self.superseded_by.map(PlanId::from_stored),
            revision: self.revision,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = plan_changelog)]
pub(crate) struct ChangelogRow {
    pub plan_id: String,
    pub position: i32,
    pub document_version: Option<String>,
    pub date: Option<NaiveDate>,
    pub change: Option<String>,
    pub decided_by: Option<String>,
    pub decided_on: Option<NaiveDate>,
}

impl ChangelogRow {
    pub fn from_domain(plan_id: &PlanId, position: i32, entry: &ChangelogEntry) -> Self {
        Self {
            plan_id: plan_id.to_string(),
            position,
            document_version: entry.document_version.clone(),
            date: entry.date,
            change: entry.change.clone(),
            decided_by: entry.decided_by.clone(),
            decided_on: entry.decided_on,
        }
    }

    pub fn into_domain(self) -> ChangelogEntry {
        ChangelogEntry {
            document_version: self.document_version,
            date: self.date,
            change: self.change,
            decided_by: self.decided_by,
            decided_on: self.decided_on,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = goals, treat_none_as_null = true)]
pub(crate) struct GoalRow {
    pub id: String,
    pub plan_id: String,
    pub position: i32,
    pub number: Option<String>,
    pub title: String,
    pub reference: Option<String>,
    pub parent_goal_id: Option<String>,
    pub status: String,
    pub targets: String,
    pub revision: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl GoalRow {
    pub fn from_domain(goal: &Goal, position: i32) -> Result<Self, StoreError> {
        Ok(Self {
            id: goal.id.to_string(),
            plan_id: goal.plan_id.to_string(),
            position,
            number: goal.number.clone(),
            title: goal.title.clone(),
            reference: goal.reference.clone(),
            parent_goal_id: goal.parent_goal_id.as_ref().map(ToString::to_string),
            status: goal.status.as_str().to_owned(),
            targets: serde_json::to_string(&goal.targets)?,
            revision: goal.revision,
            created_at: goal.created_at.naive_utc(),
            updated_at: goal.updated_at.naive_utc(),
        })
    }

    pub fn into_domain(self) -> Result<Goal, StoreError> {
        Ok(Goal {
            status: GoalStatus::parse(&self.status).ok_or_else(|| corrupt("goal status", &self.status))?,
            id: GoalId::from_stored(self.id),
            plan_id: PlanId::from_stored(self.plan_id),
            number: self.number,
            title: self.title,
            reference: self.reference,
            parent_goal_id: self.parent_goal_id.map(GoalId::from_stored),
            targets: serde_json::from_str(&self.targets)?,
            revision: self.revision,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = activities, treat_none_as_null = true)]
pub(crate) struct ActivityRow {
    pub id: String,
    pub goal_id: String,
    pub plan_id: String,
    pub position: i32,
    pub title: String,
    pub target_group: Option<String>,
    pub measure: Option<String>,
    pub targets: String,
    pub start_year: Option<i32>,
    pub end_year: Option<i32>,
    pub timeline: Option<String>,
    pub due_date: Option<NaiveDate>,
    pub responsible_execution: Option<String>,
    pub responsible_followup: Option<String>,
    pub indicator_id: Option<String>,
    pub status: String,
    pub comment: Option<String>,
    pub revision: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl ActivityRow {
    pub fn from_domain(activity: &Activity, position: i32) -> Result<Self, StoreError> {
        Ok(Self {
            id: activity.id.to_string(),
            goal_id: activity.goal_id.to_string(),
            plan_id: activity.plan_id.to_string(),
            position,
            title: activity.title.clone(),
            target_group: activity.target_group.clone(),
            measure: activity.measure.clone(),
            targets: serde_json::to_string(&activity.targets)?,
            start_year: activity.start_year,
            end_year: activity.end_year,
            timeline: activity.timeline.clone(),
            due_date: activity.due_date,
            responsible_execution: activity.responsible_execution.clone(),
            responsible_followup: activity.responsible_followup.clone(),
            indicator_id: activity.indicator_id.as_ref().map(ToString::to_string),
            status: activity.status.as_str().to_owned(),
            comment: activity.comment.clone(),
            revision: activity.revision,
            created_at: activity.created_at.naive_utc(),
            updated_at: activity.updated_at.naive_utc(),
        })
    }

    pub fn into_domain(self) -> Result<Activity, StoreError> {
        Ok(Activity {
            status: ActivityStatus::parse(&self.status).ok_or_else(|| corrupt("activity status", &self.status))?,
            id: ActivityId::from_stored(self.id),
            goal_id: GoalId::from_stored(self.goal_id),
            plan_id: PlanId::from_stored(self.plan_id),
            title: self.title,
            target_group: self.target_group,
            measure: self.measure,
            targets: serde_json::from_str(&self.targets)?,
            start_year: self.start_year,
            end_year: self.end_year,
            timeline: self.timeline,
            due_date: self.due_date,
            responsible_execution: self.responsible_execution,
            responsible_followup: self.responsible_followup,
            indicator_id: self.indicator_id.map(IndicatorId::from_stored),
            comment: self.comment,
            revision: self.revision,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
        })
    }
}
