//! Reports for scheduled scripts, read as one snapshot and scoped like the lists. A report is
//! handed on a batch of rows at a time, so that the largest (every overdue activity of a
//! national deployment) never sits in memory whole.

use crate::access::{self, Caller, ListScope};
use crate::db::DbConnection;
use crate::db::Store;
use crate::error::StoreError;
use crate::schema::{activities, follow_ups, goals, indicator_values, indicators, organizations, plans};
use chrono::{Datelike, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use planledger_domain::activity::ActivityStatus;
use planledger_domain::follow_up::{FollowUpKind, FollowUpStatus};
use planledger_domain::goal::GoalStatus;
use planledger_domain::ids::{IndicatorId, OrganizationId};
use planledger_domain::indicator::{self as indicator_rules, Gender, Mean, UpdateFrequency};
use planledger_domain::organization::OrganizationKind;
use planledger_domain::permissions::{Action, Visibility};
use planledger_domain::plan::PlanStatus;
use planledger_domain::report::{CountyIndicator, CountyReport, CountyRow, DueItem, OverdueActivity, PlanStatusRow};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;

/// How many rows a report reads from the database, and hands on, at a time.
const BATCH: usize = 500;

/// Takes a report's rows a batch at a time, in report order; answers `Break` when nobody
/// reads any more, and the report stops reading.
pub type ReportSink<'a, T> = &'a mut dyn FnMut(Vec<T>) -> ControlFlow<()>;

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
    pub fn overdue_activities(
        &self,
        caller: &Caller,
        as_of: NaiveDate,
        sink: ReportSink<'_, OverdueActivity>,
    ) -> Result<(), StoreError> {
        self.read(|conn| overdue_in(conn, caller, as_of, sink).map(drop))
    }
}

/// The overdue activities on `as_of`, read on `conn` in batches by (due date, id), each
/// handed to `sink`; `Break` when the sink stopped the reading.
fn overdue_in(
    conn: &mut DbConnection,
    caller: &Caller,
    as_of: NaiveDate,
    sink: ReportSink<'_, OverdueActivity>,
) -> Result<ControlFlow<()>, StoreError> {
    // Plans in force are public material; without public read, only those in scope.
    let scope = match access::list_scope(conn, caller)? {
        ListScope::Limited {
            organizations,
            public: false,
        } => Some(organizations),
        _ => None,
    };
    let mut after: Option<(NaiveDate, String)> = None;
    loop {
        let mut query = activities::table
            .inner_join(goals::table.on(goals::id.eq(activities::goal_id)))
            .inner_join(plans::table.on(plans::id.eq(activities::plan_id)))
            .filter(activities::due_date.lt(as_of))
            .filter(activities::status.ne_all([ActivityStatus::Done.as_str(), ActivityStatus::Cancelled.as_str()]))
            .filter(plans::status.eq_any([PlanStatus::Adopted.as_str(), PlanStatus::UnderRevision.as_str()]))
            .order((activities::due_date.asc(), activities::id.asc()))
            .limit(BATCH as i64)
            .into_boxed();
        if let Some(organizations) = &scope {
            query = query.filter(plans::organization_id.eq_any(organizations));
        }
        if let Some((due, id)) = &after {
            query = query.filter(
                activities::due_date
                    .gt(*due)
                    .or(activities::due_date.eq(*due).and(activities::id.gt(id.clone()))),
            );
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
        let complete = rows.len() < BATCH;
        let batch: Vec<OverdueActivity> = rows
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
            .collect();
        after = batch.last().map(|last| (last.due_date, last.activity_id.clone()));
        if !batch.is_empty() && sink(batch).is_break() {
            return Ok(ControlFlow::Break(()));
        }
        if complete {
            return Ok(ControlFlow::Continue(()));
        }
    }
}

/// A plan as the status and due reports read it.
#[derive(Queryable)]
struct PlanRow {
    id: String,
    organization_id: String,
    title: String,
    diary_number: Option<String>,
    status: String,
    period_start: Option<NaiveDate>,
    period_end: Option<NaiveDate>,
}

fn load_plans(conn: &mut DbConnection) -> Result<Vec<PlanRow>, StoreError> {
    Ok(plans::table
        .order(plans::id.asc())
        .select((
            plans::id,
            plans::organization_id,
            plans::title,
            plans::diary_number,
            plans::status,
            plans::period_start,
            plans::period_end,
        ))
        .load(conn)?)
}

/// Whether the caller sees a plan, and whether it sees the plan's follow-ups that are not
/// yet approved (only in its scope): the rule of the plan and follow-up lists.
fn plan_access(scope: &ListScope, plan: &PlanRow) -> (bool, bool) {
    match scope {
        ListScope::Everything => (true, true),
        ListScope::Limited { organizations, public } => {
            let in_scope = organizations.iter().any(|o| o == &plan.organization_id);
            let is_public = *public && plan.status != PlanStatus::Draft.as_str();
            (in_scope || is_public, in_scope)
        }
    }
}

fn in_force(plan: &PlanRow) -> bool {
    plan.status == PlanStatus::Adopted.as_str() || plan.status == PlanStatus::UnderRevision.as_str()
}

/// A plan's annual follow-ups for one year: whether one is approved, and the newest open one
/// the caller sees (id, status).
#[derive(Clone, Default)]
struct AnnualState {
    approved: bool,
    open: Option<(String, String)>,
}

/// The follow-ups of these plans as the reports read them: (id, plan, period, kind, status, created).
type FollowUpLine = (String, String, String, String, String, NaiveDateTime);

fn load_follow_ups(conn: &mut DbConnection, plan_ids: &[String]) -> Result<Vec<FollowUpLine>, StoreError> {
    let mut lines: Vec<FollowUpLine> = follow_ups::table
        .filter(follow_ups::plan_id.eq_any(plan_ids))
        .select((
            follow_ups::id,
            follow_ups::plan_id,
            follow_ups::period,
            follow_ups::kind,
            follow_ups::status,
            follow_ups::created_at,
        ))
        .load(conn)?;
    // Oldest first, so that the last one of a plan and period is the newest.
    lines.sort_by(|a, b| a.5.cmp(&b.5).then_with(|| a.0.cmp(&b.0)));
    Ok(lines)
}

/// Goals (`goals_side`) or activities of these plans counted by plan and status.
fn count_by_status(
    conn: &mut DbConnection,
    plan_ids: &[String],
    goals_side: bool,
) -> Result<HashMap<String, HashMap<String, i64>>, StoreError> {
    let rows: Vec<(String, String, i64)> = if goals_side {
        goals::table
            .filter(goals::plan_id.eq_any(plan_ids))
            .group_by((goals::plan_id, goals::status))
            .select((goals::plan_id, goals::status, diesel::dsl::count_star()))
            .load(conn)?
    } else {
        activities::table
            .filter(activities::plan_id.eq_any(plan_ids))
            .group_by((activities::plan_id, activities::status))
            .select((activities::plan_id, activities::status, diesel::dsl::count_star()))
            .load(conn)?
    };
    let mut counts: HashMap<String, HashMap<String, i64>> = HashMap::new();
    for (plan, status, count) in rows {
        counts.entry(plan).or_default().insert(status, count);
    }
    Ok(counts)
}

/// The organization and every organization below it (by `parent_id`).
fn subtree(conn: &mut DbConnection, root: &OrganizationId) -> Result<HashSet<String>, StoreError> {
    let pairs: Vec<(String, Option<String>)> = organizations::table
        .select((organizations::id, organizations::parent_id))
        .load(conn)?;
    if !pairs.iter().any(|(id, _)| id == root.as_str()) {
        return Err(StoreError::invalid("organization_id", "is not a known organization"));
    }
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    for (id, parent) in pairs {
        if let Some(parent) = parent {
            children.entry(parent).or_default().push(id);
        }
    }
    let mut found = HashSet::from([root.as_str().to_owned()]);
    let mut stack = vec![root.as_str().to_owned()];
    while let Some(next) = stack.pop() {
        for child in children.get(&next).into_iter().flatten() {
            if found.insert(child.clone()) {
                stack.push(child.clone());
            }
        }
    }
    Ok(found)
}

fn covers(plan: &PlanRow, first: NaiveDate, last: NaiveDate) -> bool {
    plan.period_start.is_none_or(|start| start <= last) && plan.period_end.is_none_or(|end| end >= first)
}

/// The status report's rows of these plans (each with whether the caller sees its open
/// follow-ups), in the given order.
fn status_rows(
    conn: &mut DbConnection,
    plans: &[(PlanRow, bool)],
    period: &str,
) -> Result<Vec<PlanStatusRow>, StoreError> {
    let ids: Vec<String> = plans.iter().map(|(plan, _)| plan.id.clone()).collect();
    let goal_counts = count_by_status(conn, &ids, true)?;
    let activity_counts = count_by_status(conn, &ids, false)?;
    let sees_all: HashMap<&str, bool> = plans.iter().map(|(p, all)| (p.id.as_str(), *all)).collect();
    let mut newest: HashMap<String, (String, String, String)> = HashMap::new();
    for (id, plan_id, line_period, kind, status, _) in load_follow_ups(conn, &ids)? {
        let visible =
            sees_all.get(plan_id.as_str()).copied().unwrap_or(false) || status == FollowUpStatus::Approved.as_str();
        if line_period == period && visible {
            newest.insert(plan_id, (id, kind, status));
        }
    }
    let empty = HashMap::new();
    Ok(plans
        .iter()
        .map(|(plan, _)| {
            let goals = goal_counts.get(&plan.id).unwrap_or(&empty);
            let activities = activity_counts.get(&plan.id).unwrap_or(&empty);
            let goal = |status: GoalStatus| goals.get(status.as_str()).copied().unwrap_or(0);
            let activity = |status: ActivityStatus| activities.get(status.as_str()).copied().unwrap_or(0);
            let follow_up = newest.remove(&plan.id);
            PlanStatusRow {
                goals_total: goals.values().sum(),
                goals_not_started: goal(GoalStatus::NotStarted),
                goals_on_track: goal(GoalStatus::OnTrack),
                goals_at_risk: goal(GoalStatus::AtRisk),
                goals_off_track: goal(GoalStatus::OffTrack),
                goals_achieved: goal(GoalStatus::Achieved),
                goals_not_achieved: goal(GoalStatus::NotAchieved),
                goals_cancelled: goal(GoalStatus::Cancelled),
                activities_total: activities.values().sum(),
                activities_planned: activity(ActivityStatus::Planned),
                activities_in_progress: activity(ActivityStatus::InProgress),
                activities_done: activity(ActivityStatus::Done),
                activities_postponed: activity(ActivityStatus::Postponed),
                activities_cancelled: activity(ActivityStatus::Cancelled),
                follow_up_id: follow_up.as_ref().map(|f| f.0.clone()),
                follow_up_kind: follow_up.as_ref().map(|f| f.1.clone()),
                follow_up_status: follow_up.map(|f| f.2),
                organization_id: plan.organization_id.clone(),
                plan_id: plan.id.clone(),
                plan_title: plan.title.clone(),
                diary_number: plan.diary_number.clone(),
                plan_status: plan.status.clone(),
            }
        })
        .collect())
}

/// The due report's follow-up items of these plans in force (each with whether the caller
/// sees its open follow-ups): every year ended before `before` without an approved annual
/// report, by plan and year.
fn due_follow_ups(
    conn: &mut DbConnection,
    plans: &[(PlanRow, bool)],
    before: NaiveDate,
) -> Result<Vec<DueItem>, StoreError> {
    let ids: Vec<String> = plans.iter().map(|(plan, _)| plan.id.clone()).collect();
    // Per plan and year: approved?, and the newest open annual report the caller sees.
    let mut annual: HashMap<(String, String), AnnualState> = HashMap::new();
    let sees_all: HashMap<&str, bool> = plans.iter().map(|(p, all)| (p.id.as_str(), *all)).collect();
    for (id, plan_id, period, kind, status, _) in load_follow_ups(conn, &ids)? {
        if kind != FollowUpKind::Annual.as_str() {
            continue;
        }
        let entry = annual.entry((plan_id.clone(), period)).or_default();
        if status == FollowUpStatus::Approved.as_str() {
            entry.approved = true;
        } else if sees_all.get(plan_id.as_str()).copied().unwrap_or(false) {
            entry.open = Some((id, status));
        }
    }
    let mut items = Vec::new();
    for (plan, _) in plans {
        // The last year that has ended before `before`.
        let mut last_ended = before.year() - 1;
        if let Some(end) = plan.period_end {
            last_ended = last_ended.min(end.year());
        }
        let first = plan.period_start.map_or(last_ended, |start| start.year());
        for year in first..=last_ended {
            let period = year.to_string();
            let AnnualState { approved, open } = annual.remove(&(plan.id.clone(), period.clone())).unwrap_or_default();
            if approved {
                continue;
            }
            let (subject_id, state) = open.unwrap_or_else(|| (plan.id.clone(), "missing".to_owned()));
            items.push(DueItem {
                kind: "follow_up".into(),
                organization_id: plan.organization_id.clone(),
                plan_id: Some(plan.id.clone()),
                subject_id,
                title: plan.title.clone(),
                period: Some(period),
                due_date: None,
                state,
            });
        }
    }
    Ok(items)
}

/// The due report's indicator items: the indicators the caller sees that are stale as of
/// `before`, by id, a batch at a time.
fn stale_indicators(
    conn: &mut DbConnection,
    scope: &ListScope,
    before: NaiveDate,
    sink: ReportSink<'_, DueItem>,
) -> Result<(), StoreError> {
    let judged_at = before.and_time(chrono::NaiveTime::MIN).and_utc();
    let mut after: Option<String> = None;
    loop {
        let mut query = indicators::table
            .order(indicators::id.asc())
            .limit(BATCH as i64)
            .into_boxed();
        if let ListScope::Limited {
            organizations,
            public: false,
        } = scope
        {
            query = query.filter(indicators::organization_id.eq_any(organizations));
        }
        if let Some(id) = &after {
            query = query.filter(indicators::id.gt(id.clone()));
        }
        let catalogue: Vec<(String, String, String, String)> = query
            .select((
                indicators::id,
                indicators::organization_id,
                indicators::title,
                indicators::update_frequency,
            ))
            .load(conn)?;
        let complete = catalogue.len() < BATCH;
        after = catalogue.last().map(|line| line.0.clone());
        let ids: Vec<String> = catalogue.iter().map(|line| line.0.clone()).collect();
        let mut newest = crate::indicators::newest_periods(conn, &ids)?;
        let mut items = Vec::new();
        for (id, organization_id, title, frequency) in catalogue {
            let frequency = UpdateFrequency::parse(&frequency)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown update frequency {frequency:?}")))?;
            let period = newest.remove(&id);
            if indicator_rules::is_stale(frequency, period.as_deref(), judged_at) {
                items.push(DueItem {
                    kind: "indicator".into(),
                    organization_id,
                    plan_id: None,
                    subject_id: id,
                    title,
                    period,
                    due_date: None,
                    state: "stale".into(),
                });
            }
        }
        if !items.is_empty() && sink(items).is_break() {
            return Ok(());
        }
        if complete {
            return Ok(());
        }
    }
}

impl Store {
    /// Per plan of the organization and its descendants that the caller sees and whose period
    /// covers `year`: goals and activities counted by status and the newest follow-up for the
    /// year; plans ordered by organization, then title.
    pub fn status_report(
        &self,
        caller: &Caller,
        organization_id: &OrganizationId,
        year: i32,
        sink: ReportSink<'_, PlanStatusRow>,
    ) -> Result<(), StoreError> {
        self.read(|conn| {
            let (first, last) = crate::plans::year_bounds(year)?;
            let organizations = subtree(conn, organization_id)?;
            let scope = access::list_scope(conn, caller)?;
            // The plans' keys are small; their counts and follow-ups are read a batch at a time.
            let mut chosen = Vec::new();
            for plan in load_plans(conn)? {
                if !organizations.contains(&plan.organization_id) || !covers(&plan, first, last) {
                    continue;
                }
                let (visible, sees_all) = plan_access(&scope, &plan);
                if visible {
                    chosen.push((plan, sees_all));
                }
            }
            chosen.sort_by(|(a, _), (b, _)| {
                (a.organization_id.as_str(), a.title.as_str(), a.id.as_str()).cmp(&(
                    b.organization_id.as_str(),
                    b.title.as_str(),
                    b.id.as_str(),
                ))
            });
            let period = year.to_string();
            for batch in chosen.chunks(BATCH) {
                let rows = status_rows(conn, batch, &period)?;
                if sink(rows).is_break() {
                    break;
                }
            }
            Ok(())
        })
    }

    /// What is due before `before`: for each plan in force the caller sees, every year its
    /// period covers that ended before `before` without an approved annual follow-up; the
    /// overdue activities of `overdue_activities(before)`; and the indicators stale as of
    /// `before`. Follow-ups first (by plan, year), then activities, then indicators.
    pub fn due_report(
        &self,
        caller: &Caller,
        before: NaiveDate,
        sink: ReportSink<'_, DueItem>,
    ) -> Result<(), StoreError> {
        self.read(|conn| {
            let scope = access::list_scope(conn, caller)?;
            let mut chosen = Vec::new();
            for plan in load_plans(conn)? {
                let (visible, sees_all) = plan_access(&scope, &plan);
                if visible && in_force(&plan) {
                    chosen.push((plan, sees_all));
                }
            }
            for batch in chosen.chunks(BATCH) {
                let items = due_follow_ups(conn, batch, before)?;
                if !items.is_empty() && sink(items).is_break() {
                    return Ok(());
                }
            }
            let activities = overdue_in(conn, caller, before, &mut |batch| {
                sink(
                    batch
                        .into_iter()
                        .map(|activity| DueItem {
                            kind: "activity".into(),
                            organization_id: activity.organization_id,
                            plan_id: Some(activity.plan_id),
                            subject_id: activity.activity_id,
                            title: activity.activity_title,
                            period: None,
                            due_date: Some(activity.due_date),
                            state: activity.status,
                        })
                        .collect(),
                )
            })?;
            if activities.is_break() {
                return Ok(());
            }
            stale_indicators(conn, &scope, before, sink)
        })
    }

    /// The county compilation: the region's municipalities (by name) with each indicator's
    /// value (gender T) for the period, the county and national means and the targets.
    pub fn county_report(
        &self,
        caller: &Caller,
        region_id: &OrganizationId,
        period: &str,
        indicator_ids: &[IndicatorId],
    ) -> Result<CountyReport, StoreError> {
        self.read(|conn| {
            type OrgLine = (String, String, String, Option<String>, Option<String>);
            let all: Vec<OrgLine> = organizations::table
                .select((
                    organizations::id,
                    organizations::name,
                    organizations::kind,
                    organizations::code,
                    organizations::parent_id,
                ))
                .load(conn)?;
            let region = all
                .iter()
                .find(|o| o.0 == region_id.as_str())
                .ok_or_else(|| StoreError::invalid("organization_id", "is not a known organization"))?;
            if region.2 != OrganizationKind::Region.as_str() {
                return Err(StoreError::invalid("organization_id", "is not a region"));
            }
            let municipality = OrganizationKind::Municipality.as_str();
            let mut members: Vec<&OrgLine> = all
                .iter()
                .filter(|o| o.2 == municipality && o.4.as_deref() == Some(region_id.as_str()))
                .collect();
            members.sort_by(|a, b| (a.1.as_str(), a.0.as_str()).cmp(&(b.1.as_str(), b.0.as_str())));
            let all_municipalities: Vec<&str> = all
                .iter()
                .filter(|o| o.2 == municipality)
                .map(|o| o.0.as_str())
                .collect();
            let mut report = CountyReport {
                period: period.to_owned(),
                indicators: Vec::new(),
                rows: members
                    .iter()
                    .map(|o| CountyRow {
                        organization_id: o.0.clone(),
                        name: o.1.clone(),
                        code: o.3.clone(),
                        values: BTreeMap::new(),
                    })
                    .collect(),
                county_mean: BTreeMap::new(),
                national_mean: BTreeMap::new(),
                target: BTreeMap::new(),
            };
            for id in indicator_ids {
                let found: Option<(String, String, String, Option<f64>)> = indicators::table
                    .find(id.as_str())
                    .select((
                        indicators::code,
                        indicators::title,
                        indicators::organization_id,
                        indicators::target,
                    ))
                    .first(conn)
                    .optional()?;
                let unknown = || StoreError::invalid("indicator_ids", &format!("{id} is not a known indicator"));
                let (code, title, owner, target) = found.ok_or_else(unknown)?;
                // Indicators are public material.
                let access = access::target(conn, &OrganizationId::from_stored(owner), Visibility::Public)?;
                caller
                    .authorize(Action::Read, &access, "indicator")
                    .map_err(|_| unknown())?;
                let values: HashMap<String, f64> = indicator_values::table
                    .filter(indicator_values::indicator_id.eq(id.as_str()))
                    .filter(indicator_values::period.eq(period))
                    .filter(indicator_values::gender.eq(Gender::T.as_str()))
                    .select((indicator_values::organization_id, indicator_values::value))
                    .load::<(String, Option<f64>)>(conn)?
                    .into_iter()
                    .filter_map(|(org, value)| value.map(|v| (org, v)))
                    .collect();
                let county: Vec<f64> = members.iter().filter_map(|o| values.get(&o.0).copied()).collect();
                let national: Vec<f64> = all_municipalities
                    .iter()
                    .filter_map(|o| values.get(*o).copied())
                    .collect();
                for row in &mut report.rows {
                    row.values
                        .insert(code.clone(), values.get(&row.organization_id).copied());
                }
                report.county_mean.insert(code.clone(), Mean::of(&county).mean);
                report.national_mean.insert(code.clone(), Mean::of(&national).mean);
                report.target.insert(code.clone(), target);
                report.indicators.push(CountyIndicator {
                    id: id.to_string(),
                    code,
                    title,
                });
            }
            Ok(report)
        })
    }
}
