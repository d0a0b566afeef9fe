//! Follow-up reports (uppföljning): a period's assessment of a plan's goals
//! and activities, with its own status machine. Approval applies the
//! assessments through the goals' and activities' own status rule.

use crate::activity::ActivityStatus;
use crate::goal::GoalStatus;
use crate::ids::{ActivityId, GoalId, IndicatorId, PlanId};
use crate::patch::Patch;
use crate::permissions::Action;
use crate::validation::{Errors, MAX_SHORT, MAX_TEXT};
use crate::DomainError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

pub use crate::ids::FollowUpId;

/// What period a report covers: `interim` (delårsbokslut), `annual` (årsbokslut) or `final`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FollowUpKind {
    Interim,
    Annual,
    Final,
}

impl FollowUpKind {
    pub const ALL: [FollowUpKind; 3] = [Self::Interim, Self::Annual, Self::Final];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interim => "interim",
            Self::Annual => "annual",
            Self::Final => "final",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// A report's status. The only legal moves are those of [`FollowUpStatus::allowed_next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FollowUpStatus {
    Draft,
    Submitted,
    Approved,
    Returned,
}

impl FollowUpStatus {
    pub const ALL: [FollowUpStatus; 4] = [Self::Draft, Self::Submitted, Self::Approved, Self::Returned];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::Approved => "approved",
            Self::Returned => "returned",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// draft → submitted → approved | returned; returned → draft; approved is final.
    pub fn allowed_next(self) -> &'static [FollowUpStatus] {
        use FollowUpStatus::*;
        match self {
            Draft => &[Submitted],
            Submitted => &[Approved, Returned],
            Returned => &[Draft],
            Approved => &[],
        }
    }

    pub fn is_final(self) -> bool {
        self.allowed_next().is_empty()
    }

    /// What moving a report to this status needs: the editor submits and
    /// reopens, the approver approves and returns.
    pub fn required_action(self) -> Action {
        match self {
            Self::Approved | Self::Returned => Action::Approve,
            Self::Draft | Self::Submitted => Action::Edit,
        }
    }
}

/// A goal's status as the report assesses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GoalAssessment {
    pub goal_id: GoalId,
    pub status: GoalStatus,
    /// Kept as the `reason` of the status change approval makes.
    #[serde(default)]
    pub comment: Option<String>,
}

/// An activity's status as the report updates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ActivityUpdate {
    pub activity_id: ActivityId,
    pub status: ActivityStatus,
    #[serde(default)]
    pub comment: Option<String>,
}

/// A measured value the report gives, for an activity, an indicator or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Measurement {
    #[serde(default)]
    pub activity_id: Option<ActivityId>,
    #[serde(default)]
    pub indicator_id: Option<IndicatorId>,
    /// The value as written (number kept exactly); null when only a comment is given.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, example = 1520))]
    pub value: Option<serde_json::Number>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// A follow-up report as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FollowUp {
    pub id: FollowUpId,
    pub plan_id: PlanId,
    /// The period reported on, starting with its year: `"2015"`, `"2016-T1"`.
    #[cfg_attr(feature = "openapi", schema(example = "2015"))]
    pub period: String,
    pub kind: FollowUpKind,
    pub status: FollowUpStatus,
    pub summary: Option<String>,
    pub goal_assessments: Vec<GoalAssessment>,
    pub activity_updates: Vec<ActivityUpdate>,
    pub measurements: Vec<Measurement>,
    /// The `sub` of who last submitted the report.
    pub submitted_by: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    /// Counts every change to the report; the `ETag`.
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /v1/plans/{id}/follow-ups`. A report is created as a `draft`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewFollowUp {
    #[cfg_attr(
        feature = "openapi",
        schema(example = "2015", pattern = r"^[0-9]{4}(-[\s\S]*)?$", max_length = 500)
    )]
    pub period: String,
    pub kind: FollowUpKind,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub goal_assessments: Vec<GoalAssessment>,
    #[serde(default)]
    pub activity_updates: Vec<ActivityUpdate>,
    #[serde(default)]
    pub measurements: Vec<Measurement>,
}

impl NewFollowUp {
    pub fn into_follow_up(self, plan_id: PlanId, now: DateTime<Utc>) -> Result<FollowUp, DomainError> {
        let follow_up = FollowUp {
            id: FollowUpId::generate(),
            plan_id,
            period: self.period.trim().to_owned(),
            kind: self.kind,
            status: FollowUpStatus::Draft,
            summary: self.summary,
            goal_assessments: self.goal_assessments,
            activity_updates: self.activity_updates,
            measurements: self.measurements,
            submitted_by: None,
            submitted_at: None,
            approved_by: None,
            approved_at: None,
            revision: 1,
            created_at: now,
            updated_at: now,
        };
        follow_up.validate()?;
        Ok(follow_up)
    }
}

/// Body of `PATCH /v1/follow-ups/{id}`: fields present are replaced (a list
/// whole), `null` clears. Only a draft can be edited.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FollowUpPatch {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = r"^[0-9]{4}(-[\s\S]*)?$", max_length = 500))]
    pub period: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = FollowUpKind))]
    pub kind: Patch<FollowUpKind>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub summary: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<GoalAssessment>>))]
    pub goal_assessments: Patch<Vec<GoalAssessment>>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<ActivityUpdate>>))]
    pub activity_updates: Patch<Vec<ActivityUpdate>>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Measurement>>))]
    pub measurements: Patch<Vec<Measurement>>,
}

/// Body of `POST /v1/follow-ups/{id}/transitions`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FollowUpTransition {
    pub to: FollowUpStatus,
    /// Required to return a report; kept in the event.
    #[serde(default)]
    pub reason: Option<String>,
}

/// What a transition did, for the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowUpTransitionOutcome {
    pub from: FollowUpStatus,
    pub to: FollowUpStatus,
}

/// The goals and activities of the plan a report is about, to check that it assesses only those.
#[derive(Debug, Clone, Default)]
pub struct PlanContents {
    pub goals: HashSet<GoalId>,
    pub activities: HashSet<ActivityId>,
}

/// A year at the start of the period text: `2015`, `2016-T1`.
fn period_year(period: &str) -> Option<i32> {
    let digits = period.get(..4)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = &period[4..];
    if !(rest.is_empty() || rest.starts_with('-')) {
        return None;
    }
    digits.parse().ok()
}

fn apply_list<T: PartialEq>(patch: Patch<Vec<T>>, field: &mut Vec<T>) -> bool {
    let next = match patch {
        Patch::Absent => return false,
        Patch::Null => Vec::new(),
        Patch::Value(items) => items,
    };
    let changed = *field != next;
    *field = next;
    changed
}

impl FollowUp {
    /// The year the period starts with.
    pub fn year(&self) -> Option<i32> {
        period_year(&self.period)
    }

    /// The rules every stored report satisfies.
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = Errors::new();
        errors.require_text("period", &self.period, MAX_SHORT);
        if !self.period.trim().is_empty() && period_year(&self.period).is_none() {
            errors.add(
                "period",
                "must start with a four-digit year, e.g. \"2015\" or \"2016-T1\"",
            );
        }
        errors.limit_text("summary", self.summary.as_deref(), MAX_TEXT);
        let mut goals = HashSet::new();
        for (index, assessment) in self.goal_assessments.iter().enumerate() {
            let path = format!("goal_assessments[{index}]");
            errors.limit_text(&format!("{path}.comment"), assessment.comment.as_deref(), MAX_TEXT);
            if !goals.insert(&assessment.goal_id) {
                errors.add(format!("{path}.goal_id"), "assesses a goal already assessed");
            }
        }
        let mut activities = HashSet::new();
        for (index, update) in self.activity_updates.iter().enumerate() {
            let path = format!("activity_updates[{index}]");
            errors.limit_text(&format!("{path}.comment"), update.comment.as_deref(), MAX_TEXT);
            if !activities.insert(&update.activity_id) {
                errors.add(format!("{path}.activity_id"), "updates an activity already updated");
            }
        }
        for (index, measurement) in self.measurements.iter().enumerate() {
            let path = format!("measurements[{index}]");
            errors.limit_text(&format!("{path}.comment"), measurement.comment.as_deref(), MAX_TEXT);
            if measurement.activity_id.is_none() && measurement.indicator_id.is_none() {
                errors.add(format!("{path}.activity_id"), "is required when indicator_id is null");
            }
        }
        errors.finish()
    }

    /// Checks that every goal and activity the report names belongs to its plan.
    pub fn check_contents(&self, plan: &PlanContents) -> Result<(), DomainError> {
        let mut errors = Errors::new();
        for (index, assessment) in self.goal_assessments.iter().enumerate() {
            if !plan.goals.contains(&assessment.goal_id) {
                errors.add(
                    format!("goal_assessments[{index}].goal_id"),
                    "is not a goal of this plan",
                );
            }
        }
        for (index, update) in self.activity_updates.iter().enumerate() {
            if !plan.activities.contains(&update.activity_id) {
                errors.add(
                    format!("activity_updates[{index}].activity_id"),
                    "is not an activity of this plan",
                );
            }
        }
        for (index, measurement) in self.measurements.iter().enumerate() {
            if let Some(activity) = &measurement.activity_id {
                if !plan.activities.contains(activity) {
                    errors.add(
                        format!("measurements[{index}].activity_id"),
                        "is not an activity of this plan",
                    );
                }
            }
        }
        errors.finish()
    }

    /// Whether the report can be edited: only a draft can.
    pub fn ensure_editable(&self) -> Result<(), DomainError> {
        if self.status != FollowUpStatus::Draft {
            return Err(DomainError::Conflict(format!(
                "the follow-up is {}; only a draft can be edited",
                self.status.as_str()
            )));
        }
        Ok(())
    }

    /// Applies a patch; returns the names of the fields that changed.
    pub fn apply_patch(&mut self, patch: FollowUpPatch) -> Result<Vec<&'static str>, DomainError> {
        self.ensure_editable()?;
        let mut null_errors = Errors::new();
        if matches!(patch.period, Patch::Null) {
            null_errors.add("period", "must not be null");
        }
        if matches!(patch.kind, Patch::Null) {
            null_errors.add("kind", "must not be null");
        }
        null_errors.finish()?;
        let mut changed = Vec::new();
        let period = match patch.period {
            Patch::Value(period) => Patch::Value(period.trim().to_owned()),
            other => other,
        };
        if crate::patch::apply_required(period, &mut self.period) {
            changed.push("period");
        }
        if crate::patch::apply_required(patch.kind, &mut self.kind) {
            changed.push("kind");
        }
        if patch.summary.apply_to(&mut self.summary) {
            changed.push("summary");
        }
        if apply_list(patch.goal_assessments, &mut self.goal_assessments) {
            changed.push("goal_assessments");
        }
        if apply_list(patch.activity_updates, &mut self.activity_updates) {
            changed.push("activity_updates");
        }
        if apply_list(patch.measurements, &mut self.measurements) {
            changed.push("measurements");
        }
        self.validate()?;
        Ok(changed)
    }

    /// Checks and applies a status transition made by `actor` at `now`. The
    /// caller checks the role ([`FollowUpStatus::required_action`]) and, on
    /// approval, applies the assessments in the same transaction.
    pub fn transition(
        &mut self,
        request: &FollowUpTransition,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<FollowUpTransitionOutcome, DomainError> {
        let from = self.status;
        let to = request.to;
        if !from.allowed_next().contains(&to) {
            return Err(DomainError::InvalidTransition {
                from: from.as_str().to_owned(),
                to: to.as_str().to_owned(),
                allowed: from.allowed_next().iter().map(|s| s.as_str().to_owned()).collect(),
            });
        }
        let mut errors = Errors::new();
        if to == FollowUpStatus::Returned && request.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            errors.add("reason", "is required to return a follow-up");
        }
        errors.limit_text("reason", request.reason.as_deref(), MAX_TEXT);
        errors.finish()?;
        match to {
            FollowUpStatus::Submitted => {
                self.submitted_by = Some(actor.to_owned());
                self.submitted_at = Some(now);
            }
            FollowUpStatus::Approved => {
                self.approved_by = Some(actor.to_owned());
                self.approved_at = Some(now);
            }
            FollowUpStatus::Draft => {
                self.submitted_by = None;
                self.submitted_at = None;
            }
            FollowUpStatus::Returned => {}
        }
        self.status = to;
        Ok(FollowUpTransitionOutcome { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FollowUpStatus::*;

    fn report(status: FollowUpStatus) -> FollowUp {
        let mut report = NewFollowUp {
            period: "2015".into(),
            kind: FollowUpKind::Annual,
            summary: Some("Året i korthet".into()),
            goal_assessments: vec![],
            activity_updates: vec![],
            measurements: vec![],
        }
        .into_follow_up(PlanId::generate(), Utc::now())
        .expect("valid report");
        report.status = status;
        report
    }

    fn to(status: FollowUpStatus) -> FollowUpTransition {
        FollowUpTransition {
            to: status,
            reason: Some("Komplettera målbedömningen".into()),
        }
    }

    #[test]
    fn only_the_table_moves_are_legal() {
        for from in FollowUpStatus::ALL {
            for target in FollowUpStatus::ALL {
                let legal = matches!(
                    (from, target),
                    (Draft, Submitted) | (Submitted, Approved) | (Submitted, Returned) | (Returned, Draft)
                );
                let result = report(from).transition(&to(target), "anna", Utc::now());
                assert_eq!(result.is_ok(), legal, "{from:?} → {target:?}");
            }
        }
    }

    #[test]
    fn approval_and_return_need_the_approver() {
        assert_eq!(Approved.required_action(), Action::Approve);
        assert_eq!(Returned.required_action(), Action::Approve);
        assert_eq!(Submitted.required_action(), Action::Edit);
        assert_eq!(Draft.required_action(), Action::Edit);
    }

    #[test]
    fn returning_needs_a_reason() {
        let result = report(Submitted).transition(
            &FollowUpTransition {
                to: Returned,
                reason: None,
            },
            "a",
            Utc::now(),
        );
        assert!(matches!(result, Err(DomainError::Validation(_))));
    }

    #[test]
    fn only_a_draft_can_be_edited() {
        let patch = || FollowUpPatch {
            summary: Patch::Value("Ny sammanfattning".into()),
            ..Default::default()
        };
        assert_eq!(report(Draft).apply_patch(patch()).expect("draft"), ["summary"]);
        for status in [Submitted, Approved, Returned] {
            assert!(matches!(
                report(status).apply_patch(patch()),
                Err(DomainError::Conflict(_))
            ));
        }
    }

    #[test]
    fn assessments_must_name_the_plans_own_goals_and_activities() {
        let mut report = report(Draft);
        let own = GoalId::generate();
        report.goal_assessments = vec![
            GoalAssessment {
                goal_id: own.clone(),
                status: GoalStatus::OnTrack,
                comment: None,
            },
            GoalAssessment {
                goal_id: GoalId::generate(),
                status: GoalStatus::AtRisk,
                comment: None,
            },
        ];
        let contents = PlanContents {
            goals: [own].into_iter().collect(),
            activities: HashSet::new(),
        };
        let Err(DomainError::Validation(errors)) = report.check_contents(&contents) else {
            panic!("refused");
        };
        assert_eq!(errors[0].field, "goal_assessments[1].goal_id");
    }

    #[test]
    fn the_period_starts_with_a_year() {
        assert_eq!(period_year("2015"), Some(2015));
        assert_eq!(period_year("2016-T1"), Some(2016));
        assert_eq!(period_year("T1"), None);
        assert_eq!(period_year("20151"), None);
    }
}
