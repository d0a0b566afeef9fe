//! The rows of the reports scheduled scripts read, as JSON and as CSV.

use chrono::NaiveDate;
use serde::Serialize;

/// An activity past its due date, not done and not cancelled, in a plan in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OverdueActivity {
    pub organization_id: String,
    pub plan_id: String,
    pub plan_title: String,
    pub diary_number: Option<String>,
    pub goal_id: String,
    pub goal_number: Option<String>,
    pub activity_id: String,
    pub activity_title: String,
    pub due_date: NaiveDate,
    pub status: String,
    pub responsible_execution: Option<String>,
    /// Whole days from `due_date` to the report's `as_of`.
    pub days_overdue: i64,
}

/// One plan in the status report: its goals and activities counted by status (a column per
/// status, zeros included) and the newest follow-up of the plan for the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanStatusRow {
    pub organization_id: String,
    pub plan_id: String,
    pub plan_title: String,
    pub diary_number: Option<String>,
    pub plan_status: String,
    pub goals_total: i64,
    pub goals_not_started: i64,
    pub goals_on_track: i64,
    pub goals_at_risk: i64,
    pub goals_off_track: i64,
    pub goals_achieved: i64,
    pub goals_not_achieved: i64,
    pub goals_cancelled: i64,
    pub activities_total: i64,
    pub activities_planned: i64,
    pub activities_in_progress: i64,
    pub activities_done: i64,
    pub activities_postponed: i64,
    pub activities_cancelled: i64,
    /// The newest follow-up of the plan for the period (the caller may see); null when none.
    pub follow_up_id: Option<String>,
    pub follow_up_kind: Option<String>,
    pub follow_up_status: Option<String>,
}

/// One thing due in the due report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DueItem {
    /// `follow_up`, `activity` or `indicator`.
    pub kind: String,
    pub organization_id: String,
    /// The plan (null for indicators).
    pub plan_id: Option<String>,
    /// The follow-up report (the plan when the report is missing), the activity or the indicator.
    pub subject_id: String,
    /// The plan's title for a follow-up, the activity's or the indicator's title otherwise.
    pub title: String,
    /// The year of a follow-up; the newest period with a value of a stale indicator.
    pub period: Option<String>,
    /// The activity's due date.
    pub due_date: Option<NaiveDate>,
    /// A follow-up's status (`missing` when there is none), an activity's status, `stale`.
    pub state: String,
}

/// An indicator of the county report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CountyIndicator {
    pub id: String,
    pub code: String,
    pub title: String,
}

/// A municipality of the county report, with its value (gender T) per indicator code.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CountyRow {
    pub organization_id: String,
    pub name: String,
    pub code: Option<String>,
    pub values: std::collections::BTreeMap<String, Option<f64>>,
}

/// The county compilation (länsrapport).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CountyReport {
    pub period: String,
    /// In the order asked for.
    pub indicators: Vec<CountyIndicator>,
    /// The municipalities whose parent is the region, by name.
    pub rows: Vec<CountyRow>,
    /// Per indicator code: the mean over the region's municipalities with a value; null when none.
    pub county_mean: std::collections::BTreeMap<String, Option<f64>>,
    /// Per indicator code: the mean over all municipalities with a value; null when none.
    pub national_mean: std::collections::BTreeMap<String, Option<f64>>,
    /// Per indicator code: the indicator's target; null when none.
    pub target: std::collections::BTreeMap<String, Option<f64>>,
}
