//! Goals (mål) of a plan, with their targets and status.

use crate::ids::{GoalId, PlanId};
use crate::patch::Patch;
use crate::progress::Progress;
use crate::validation::{Errors, MAX_SHORT, MAX_TEXT, MAX_TITLE};
use crate::DomainError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GoalStatus {
    NotStarted,
    OnTrack,
    AtRisk,
    OffTrack,
    Achieved,
    NotAchieved,
    Cancelled,
}

impl crate::status::AssessedStatus for GoalStatus {
    const ALL: &'static [Self] = &Self::ALL;
    const CANCELLED: Self = Self::Cancelled;

    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl GoalStatus {
    pub const ALL: [GoalStatus; 7] = [
        Self::NotStarted,
        Self::OnTrack,
        Self::AtRisk,
        Self::OffTrack,
        Self::Achieved,
        Self::NotAchieved,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "not_started",
            Self::OnTrack => "on_track",
            Self::AtRisk => "at_risk",
            Self::OffTrack => "off_track",
            Self::Achieved => "achieved",
            Self::NotAchieved => "not_achieved",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// The unit of a target value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TargetUnit {
    Count,
    Percent,
    Ratio,
    Boolean,
    Days,
    Sek,
    Text,
}

impl TargetUnit {
    pub const ALL: [TargetUnit; 7] = [
        Self::Count,
        Self::Percent,
        Self::Ratio,
        Self::Boolean,
        Self::Days,
        Self::Sek,
        Self::Text,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::Percent => "percent",
            Self::Ratio => "ratio",
            Self::Boolean => "boolean",
            Self::Days => "days",
            Self::Sek => "sek",
            Self::Text => "text",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|unit| unit.as_str() == text)
    }
}

/// A target value (målvärde) for a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The year (or other period) the target is for; null when the document names none.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(example = "2016"))]
    pub period: Option<String>,
    /// The value as written (number kept exactly); null for targets stated only as text.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, example = 1750))]
    pub value: Option<serde_json::Number>,
    pub unit: TargetUnit,
    /// The target as the document states it.
    #[serde(default)]
    pub text: Option<String>,
}

pub(crate) fn validate_targets(errors: &mut Errors, field: &str, targets: &[Target]) {
    for (index, target) in targets.iter().enumerate() {
        errors.limit_text(&format!("{field}[{index}].period"), target.period.as_deref(), MAX_SHORT);
        errors.limit_text(&format!("{field}[{index}].text"), target.text.as_deref(), MAX_TEXT);
    }
}

/// A goal as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Goal {
    pub id: GoalId,
    pub plan_id: PlanId,
    /// The goal's number as the document writes it (`"1"`, `"3.1 Mål 1"`).
    pub number: Option<String>,
    pub title: String,
    /// What the goal refers to (a law, a declaration article).
    pub reference: Option<String>,
    /// The goal this one breaks down (goal cascading).
    pub parent_goal_id: Option<GoalId>,
    pub status: GoalStatus,
    pub targets: Vec<Target>,
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /v1/plans/{id}/goals`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewGoal {
    #[serde(default)]
    pub number: Option<String>,
    #[cfg_attr(feature = "openapi", schema(pattern = r"\S", max_length = 500))]
    pub title: String,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "uuid"))]
    pub parent_goal_id: Option<GoalId>,
    /// Defaults to `not_started`.
    #[serde(default)]
    pub status: Option<GoalStatus>,
    #[serde(default)]
    pub targets: Vec<Target>,
}

impl NewGoal {
    pub fn into_goal(self, plan_id: PlanId, now: DateTime<Utc>) -> Result<Goal, DomainError> {
        let goal = Goal {
            id: GoalId::generate(),
            plan_id,
            number: self.number,
            title: self.title.trim().to_owned(),
            reference: self.reference,
            parent_goal_id: self.parent_goal_id,
            status: self.status.unwrap_or(GoalStatus::NotStarted),
            targets: self.targets,
            revision: 1,
            created_at: now,
            updated_at: now,
        };
        goal.validate()?;
        Ok(goal)
    }
}

/// Body of `PATCH /v1/goals/{id}`. A `status` here is a status change (with an optional `reason`).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GoalPatch {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub number: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = r"\S", max_length = 500))]
    pub title: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub reference: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "uuid"))]
    pub parent_goal_id: Patch<GoalId>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Target>>))]
    pub targets: Patch<Vec<Target>>,
    #[serde(default)]
    pub status: Option<GoalStatus>,
    /// Why the status changed; kept in the event.
    #[serde(default)]
    pub reason: Option<String>,
}

impl Goal {
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = Errors::new();
        errors.require_text("title", &self.title, MAX_TITLE);
        errors.limit_text("number", self.number.as_deref(), MAX_SHORT);
        errors.limit_text("reference", self.reference.as_deref(), MAX_TEXT);
        validate_targets(&mut errors, "targets", &self.targets);
        if self.parent_goal_id.as_ref() == Some(&self.id) {
            errors.add("parent_goal_id", "a goal cannot break down itself");
        }
        errors.finish()
    }

    /// Applies the non-status fields of a patch; returns the names of the fields that changed.
    pub fn apply_patch(&mut self, patch: GoalPatch) -> Result<Vec<&'static str>, DomainError> {
        if matches!(patch.title, Patch::Null) {
            return Err(DomainError::Validation(vec![crate::validation::FieldError::new(
                "title",
                "must not be null",
            )]));
        }
        let mut changed = Vec::new();
        let title = match patch.title {
            Patch::Value(title) => Patch::Value(title.trim().to_owned()),
            other => other,
        };
        if crate::patch::apply_required(title, &mut self.title) {
            changed.push("title");
        }
        if patch.number.apply_to(&mut self.number) {
            changed.push("number");
        }
        if patch.reference.apply_to(&mut self.reference) {
            changed.push("reference");
        }
        if patch.parent_goal_id.apply_to(&mut self.parent_goal_id) {
            changed.push("parent_goal_id");
        }
        let mut targets = Some(std::mem::take(&mut self.targets));
        if patch.targets.apply_to(&mut targets) {
            changed.push("targets");
        }
        self.targets = targets.unwrap_or_default();
        self.validate()?;
        Ok(changed)
    }

    /// Changes the status through the goal status rule; `None` when it already has it.
    pub fn change_status(&mut self, to: GoalStatus) -> Result<Option<GoalStatus>, DomainError> {
        crate::status::change(&mut self.status, to)
    }
}

/// A goal with what is computed from it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GoalView {
    #[serde(flatten)]
    pub goal: Goal,
    pub progress: Progress,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn goal(status: GoalStatus) -> Goal {
        let mut goal = NewGoal {
            number: Some("1".into()),
            title: "En jämställd och jämlik hälso-, sjuk och tandvård".into(),
            reference: None,
            parent_goal_id: None,
            status: None,
            targets: vec![],
        }
        .into_goal(PlanId::generate(), Utc::now())
        .expect("valid goal");
        goal.status = status;
        goal
    }

    #[test]
    fn a_new_goal_has_not_started() {
        assert_eq!(goal(GoalStatus::NotStarted).status, GoalStatus::NotStarted);
    }

    #[test]
    fn a_goal_may_be_reassessed_freely_until_cancelled() {
        let mut achieved = goal(GoalStatus::Achieved);
        assert_eq!(
            achieved.change_status(GoalStatus::AtRisk).expect("allowed"),
            Some(GoalStatus::Achieved)
        );
        let mut cancelled = goal(GoalStatus::Cancelled);
        assert!(
            matches!(cancelled.change_status(GoalStatus::OnTrack), Err(DomainError::InvalidTransition { allowed, .. }) if allowed.is_empty())
        );
    }

    #[test]
    fn the_same_status_is_no_change() {
        assert_eq!(
            goal(GoalStatus::OnTrack)
                .change_status(GoalStatus::OnTrack)
                .expect("ok"),
            None
        );
    }

    #[test]
    fn a_goal_cannot_break_down_itself() {
        let mut goal = goal(GoalStatus::NotStarted);
        let own = goal.id.clone();
        assert!(goal
            .apply_patch(GoalPatch {
                parent_goal_id: Patch::Value(own),
                ..Default::default()
            })
            .is_err());
    }
}
