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
