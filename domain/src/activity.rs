//! Activities (aktiviteter) under a goal.

use crate::goal::{validate_targets, Target};
use crate::ids::{ActivityId, GoalId, IndicatorId, PlanId};
use crate::patch::Patch;
use crate::validation::{Errors, MAX_SHORT, MAX_TEXT, MAX_TITLE};
use crate::DomainError;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActivityStatus {
    Planned,
    InProgress,
    Done,
    Postponed,
    Cancelled,
}

impl crate::status::AssessedStatus for ActivityStatus {
    const ALL: &'static [Self] = &Self::ALL;
    const CANCELLED: Self = Self::Cancelled;

    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl ActivityStatus {
    pub const ALL: [ActivityStatus; 5] = [
        Self::Planned,
        Self::InProgress,
        Self::Done,
        Self::Postponed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::InProgress => "in_progress",
            Self::Done => "done",
            Self::Postponed => "postponed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// An activity as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Activity {
    pub id: ActivityId,
    pub goal_id: GoalId,
    /// The plan the goal belongs to.
    pub plan_id: PlanId,
    pub title: String,
    pub target_group: Option<String>,
    /// The measure (mätetal).
    pub measure: Option<String>,
    pub targets: Vec<Target>,
    pub start_year: Option<i32>,
    pub end_year: Option<i32>,
    /// The timeline as the document writes it (`"2015-2017"`, `"Löpande"`).
    pub timeline: Option<String>,
    pub due_date: Option<NaiveDate>,
    pub responsible_execution: Option<String>,
    pub responsible_followup: Option<String>,
    pub indicator_id: Option<IndicatorId>,
    pub status: ActivityStatus,
    pub comment: Option<String>,
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /v1/goals/{id}/activities`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewActivity {
    #[cfg_attr(feature = "openapi", schema(pattern = r"\S", max_length = 500))]
    pub title: String,
    #[serde(default)]
    pub target_group: Option<String>,
    #[serde(default)]
    pub measure: Option<String>,
    #[serde(default)]
    pub targets: Vec<Target>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1900, maximum = 2200))]
    pub start_year: Option<i32>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1900, maximum = 2200))]
    pub end_year: Option<i32>,
    #[serde(default)]
    pub timeline: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[1-9]"))]
    pub due_date: Option<NaiveDate>,
    #[serde(default)]
    pub responsible_execution: Option<String>,
    #[serde(default)]
    pub responsible_followup: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "uuid"))]
    pub indicator_id: Option<IndicatorId>,
    /// Defaults to `planned`.
    #[serde(default)]
    pub status: Option<ActivityStatus>,
    #[serde(default)]
    pub comment: Option<String>,
}

impl NewActivity {
    pub fn into_activity(self, goal_id: GoalId, plan_id: PlanId, now: DateTime<Utc>) -> Result<Activity, DomainError> {
        let activity = Activity {
            id: ActivityId::generate(),
            goal_id,
            plan_id,
            title: self.title.trim().to_owned(),
            target_group: self.target_group,
            measure: self.measure,
            targets: self.targets,
            start_year: self.start_year,
            end_year: self.end_year,
            timeline: self.timeline,
            due_date: self.due_date,
            responsible_execution: self.responsible_execution,
            responsible_followup: self.responsible_followup,
            indicator_id: self.indicator_id,
            status: self.status.unwrap_or(ActivityStatus::Planned),
            comment: self.comment,
            revision: 1,
            created_at: now,
            updated_at: now,
        };
        activity.validate()?;
        Ok(activity)
    }
}

/// Body of `PATCH /v1/activities/{id}`. A `status` here is a status change (with an optional `reason`).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ActivityPatch {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = r"\S", max_length = 500))]
    pub title: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub target_group: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub measure: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Target>>))]
    pub targets: Patch<Vec<Target>>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i32>, minimum = 1900, maximum = 2200))]
    pub start_year: Patch<i32>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i32>, minimum = 1900, maximum = 2200))]
    pub end_year: Patch<i32>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub timeline: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<NaiveDate>, pattern = r"^[1-9]"))]
    pub due_date: Patch<NaiveDate>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub responsible_execution: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub responsible_followup: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "uuid"))]
    pub indicator_id: Patch<IndicatorId>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub comment: Patch<String>,
    #[serde(default)]
    pub status: Option<ActivityStatus>,
    /// Why the status changed; kept in the event.
    #[serde(default)]
    pub reason: Option<String>,
}

impl Activity {
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = Errors::new();
        errors.require_text("title", &self.title, MAX_TITLE);
        for (field, text) in [
            ("target_group", &self.target_group),
            ("measure", &self.measure),
            ("comment", &self.comment),
        ] {
            errors.limit_text(field, text.as_deref(), MAX_TEXT);
        }
        for (field, text) in [
            ("timeline", &self.timeline),
            ("responsible_execution", &self.responsible_execution),
            ("responsible_followup", &self.responsible_followup),
        ] {
            errors.limit_text(field, text.as_deref(), MAX_SHORT);
        }
        validate_targets(&mut errors, "targets", &self.targets);
        errors.check_date("due_date", self.due_date);
        for (field, year) in [("start_year", self.start_year), ("end_year", self.end_year)] {
            if year.is_some_and(|year| !(1900..=2200).contains(&year)) {
                errors.add(field, "must be a year between 1900 and 2200");
            }
        }
        if let (Some(start), Some(end)) = (self.start_year, self.end_year) {
            if end < start {
                errors.add("end_year", "must not be before start_year");
            }
        }
        errors.finish()
    }

    /// Applies the non-status fields of a patch; returns the names of the fields that changed.
    pub fn apply_patch(&mut self, patch: ActivityPatch) -> Result<Vec<&'static str>, DomainError> {
        if matches!(patch.title, Patch::Null) {
            return Err(DomainError::Validation(vec![crate::validation::FieldError::new(
                "title",
                "must not be null",
            )]));
        }
        let mut changed = Vec::new();
        let mut note = |did_change: bool, field: &'static str| {
            if did_change {
                changed.push(field);
            }
        };
        let title = match patch.title {
            Patch::Value(title) => Patch::Value(title.trim().to_owned()),
            other => other,
        };
        note(crate::patch::apply_required(title, &mut self.title), "title");
        note(patch.target_group.apply_to(&mut self.target_group), "target_group");
        note(patch.measure.apply_to(&mut self.measure), "measure");
        let mut targets = Some(std::mem::take(&mut self.targets));
        note(patch.targets.apply_to(&mut targets), "targets");
        self.targets = targets.unwrap_or_default();
        note(patch.start_year.apply_to(&mut self.start_year), "start_year");
        note(patch.end_year.apply_to(&mut self.end_year), "end_year");
        note(patch.timeline.apply_to(&mut self.timeline), "timeline");
        note(patch.due_date.apply_to(&mut self.due_date), "due_date");
        note(
            patch.responsible_execution.apply_to(&mut self.responsible_execution),
            "responsible_execution",
        );
        note(
            patch.responsible_followup.apply_to(&mut self.responsible_followup),
            "responsible_followup",
        );
        note(patch.indicator_id.apply_to(&mut self.indicator_id), "indicator_id");
        note(patch.comment.apply_to(&mut self.comment), "comment");
        self.validate()?;
        Ok(changed)
    }

    /// Changes the status through the activity status rule; `None` when it already has it.
    pub fn change_status(&mut self, to: ActivityStatus) -> Result<Option<ActivityStatus>, DomainError> {
        crate::status::change(&mut self.status, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity() -> Activity {
        NewActivity {
            title: "Inrätta en läkargrupp".into(),
            target_group: Some("Medarbetare och chefer".into()),
            measure: Some("Inrättad grupp".into()),
            targets: vec![],
            start_year: Some(2015),
            end_year: Some(2015),
            timeline: Some("2015".into()),
            due_date: NaiveDate::from_ymd_opt(2015, 12, 31),
            responsible_execution: None,
            responsible_followup: None,
            indicator_id: None,
            status: None,
            comment: None,
        }
        .into_activity(GoalId::generate(), PlanId::generate(), Utc::now())
        .expect("valid activity")
    }

    #[test]
    fn a_new_activity_is_planned() {
        assert_eq!(activity().status, ActivityStatus::Planned);
    }

    #[test]
    fn a_cancelled_activity_stays_cancelled() {
        let mut activity = activity();
        activity.change_status(ActivityStatus::Cancelled).expect("allowed");
        assert!(matches!(
            activity.change_status(ActivityStatus::Planned),
            Err(DomainError::InvalidTransition { .. })
        ));
    }

    #[test]
    fn a_done_activity_can_be_reopened() {
        let mut activity = activity();
        activity.change_status(ActivityStatus::Done).expect("allowed");
        assert_eq!(
            activity.change_status(ActivityStatus::InProgress).expect("allowed"),
            Some(ActivityStatus::Done)
        );
    }

    #[test]
    fn end_year_before_start_year_is_refused() {
        let mut activity = activity();
        let patch = ActivityPatch {
            end_year: Patch::Value(2014),
            ..Default::default()
        };
        assert!(matches!(activity.apply_patch(patch), Err(DomainError::Validation(e)) if e[0].field == "end_year"));
    }
}
