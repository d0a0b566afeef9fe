//! Action plans (handlingsplaner) and their status machine.

use crate::ids::{OrganizationId, PlanId};
use crate::patch::Patch;
use crate::progress::Progress;
use crate::validation::{Errors, MAX_SHORT, MAX_TEXT, MAX_TITLE};
use crate::DomainError;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A plan's status. The only legal moves are those of [`PlanStatus::allowed_next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Draft,
    Adopted,
    UnderRevision,
    Withdrawn,
    Closed,
    Superseded,
}

impl PlanStatus {
    pub const ALL: [PlanStatus; 6] = [
        Self::Draft,
        Self::Adopted,
        Self::UnderRevision,
        Self::Withdrawn,
        Self::Closed,
        Self::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Adopted => "adopted",
            Self::UnderRevision => "under_revision",
            Self::Withdrawn => "withdrawn",
            Self::Closed => "closed",
            Self::Superseded => "superseded",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// The statuses a plan in this status may move to (API.md's transition table).
    pub fn allowed_next(self) -> &'static [PlanStatus] {
        use PlanStatus::*;
        match self {
            Draft => &[Adopted, Withdrawn],
            Adopted => &[UnderRevision, Closed, Superseded],
            UnderRevision => &[Adopted, Closed, Superseded],
            Withdrawn | Closed | Superseded => &[],
        }
    }

    pub fn is_final(self) -> bool {
        self.allowed_next().is_empty()
    }

    /// Public material: anything that has left `draft`.
    pub fn is_public(self) -> bool {
        self != PlanStatus::Draft
    }
}

/// The decision that adopted the plan (beslut).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Decision {
    #[cfg_attr(feature = "openapi", schema(example = "LD"))]
    #[serde(default)]
    pub decided_by: Option<String>,
    #[serde(default)]
    pub decided_on: Option<NaiveDate>,
    #[serde(default)]
    pub note: Option<String>,
}

impl Decision {
    fn is_empty(&self) -> bool {
        self.decided_by.is_none() && self.decided_on.is_none() && self.note.is_none()
    }
}

/// The plan's consequence analyses, as the region's template asks for them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Perspectives {
    pub gender_equality: Option<String>,
    pub children: Option<String>,
    pub environment: Option<String>,
    pub consequences: Option<String>,
}

/// Only from a JSON object: serde's derive would also take an array of the fields in order
/// (`[null, null]`), which the document does not allow.
impl<'de> Deserialize<'de> for Perspectives {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            #[serde(default)]
            gender_equality: Option<String>,
            #[serde(default)]
            children: Option<String>,
            #[serde(default)]
            environment: Option<String>,
            #[serde(default)]
            consequences: Option<String>,
        }
        struct ObjectOnly;
        impl<'de> serde::de::Visitor<'de> for ObjectOnly {
            type Value = Fields;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Fields, A::Error> {
                Fields::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        let fields = deserializer.deserialize_map(ObjectOnly)?;
        Ok(Perspectives {
            gender_equality: fields.gender_equality,
            children: fields.children,
            environment: fields.environment,
            consequences: fields.consequences,
        })
    }
}

/// A row of the plan's change log (ändringsförteckning).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangelogEntry {
    pub document_version: Option<String>,
    pub date: Option<NaiveDate>,
    pub change: Option<String>,
    pub decided_by: Option<String>,
    pub decided_on: Option<NaiveDate>,
}

impl ChangelogEntry {
    /// The rules of a changelog row; field names are prefixed with `path`.
    pub fn validate(&self, errors: &mut Errors, path: &str) {
        errors.limit_text(
            &format!("{path}.document_version"),
            self.document_version.as_deref(),
            MAX_SHORT,
        );
        errors.check_date(&format!("{path}.date"), self.date);
        errors.limit_text(&format!("{path}.change"), self.change.as_deref(), MAX_TEXT);
        errors.limit_text(&format!("{path}.decided_by"), self.decided_by.as_deref(), MAX_SHORT);
        errors.check_date(&format!("{path}.decided_on"), self.decided_on);
    }
}

/// A plan as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    pub id: PlanId,
    pub organization_id: OrganizationId,
    #[cfg_attr(
        feature = "openapi",
        schema(example = "Övergripande handlingsplan mot våld i nära relation")
    )]
    pub title: String,
    /// Diary number (Dnr), e.g. `LS/1301/2014`.
    #[cfg_attr(feature = "openapi", schema(example = "LS/1301/2014"))]
    pub diary_number: Option<String>,
    /// Version as the document writes it: `"2"`, `"1.1"`.
    pub document_version: Option<String>,
    pub period_start: Option<NaiveDate>,
    /// Null for an open-ended plan.
    pub period_end: Option<NaiveDate>,
    pub owner: Option<String>,
    pub summary: Option<String>,
    pub perspectives: Perspectives,
    pub status: PlanStatus,
    /// Null until the plan is decided.
    pub decision: Option<Decision>,
    pub background_decisions: Vec<String>,
    pub superseded_by: Option<PlanId>,
    /// Counts every change to the plan; the `ETag`.
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /v1/plans`. A plan is created as a `draft`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    pub organization_id: OrganizationId,
    #[cfg_attr(feature = "openapi", schema(pattern = r"\S", max_length = 500))]
    pub title: String,
    #[serde(default)]
    pub diary_number: Option<String>,
    #[serde(default)]
    pub document_version: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[1-9]"))]
    pub period_start: Option<NaiveDate>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[1-9]"))]
    pub period_end: Option<NaiveDate>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub perspectives: Option<Perspectives>,
    #[serde(default)]
    pub background_decisions: Vec<String>,
}

impl NewPlan {
    pub fn into_plan(self, now: DateTime<Utc>) -> Result<Plan, DomainError> {
        let plan = Plan {
            id: PlanId::generate(),
            organization_id: self.organization_id,
            title: self.title.trim().to_owned(),
            diary_number: self.diary_number,
            document_version: self.document_version,
            period_start: self.period_start,
            period_end: self.period_end,
            owner: self.owner,
            summary: self.summary,
            perspectives: self.perspectives.unwrap_or_default(),
            status: PlanStatus::Draft,
            decision: None,
            background_decisions: self.background_decisions,
            superseded_by: None,
            revision: 1,
            created_at: now,
            updated_at: now,
        };
        plan.validate()?;
        Ok(plan)
    }
}

/// Body of `PATCH /v1/plans/{id}`: fields present are changed, `null` clears.
/// Status moves through `/transitions`, never here.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlanPatch {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = r"\S", max_length = 500))]
    pub title: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub diary_number: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub document_version: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<NaiveDate>, pattern = r"^[1-9]"))]
    pub period_start: Patch<NaiveDate>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<NaiveDate>, pattern = r"^[1-9]"))]
    pub period_end: Patch<NaiveDate>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub owner: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub summary: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Perspectives>))]
    pub perspectives: Patch<Perspectives>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub background_decisions: Patch<Vec<String>>,
}

impl Plan {
    /// The rules every stored plan satisfies.
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = Errors::new();
        errors.require_text("title", &self.title, MAX_TITLE);
        errors.limit_text("diary_number", self.diary_number.as_deref(), MAX_SHORT);
        errors.limit_text("document_version", self.document_version.as_deref(), MAX_SHORT);
        errors.limit_text("owner", self.owner.as_deref(), MAX_SHORT);
        errors.limit_text("summary", self.summary.as_deref(), MAX_TEXT);
        errors.check_date("period_start", self.period_start);
        errors.check_date("period_end", self.period_end);
        if let (Some(start), Some(end)) = (self.period_start, self.period_end) {
            if end < start {
                errors.add("period_end", "must not be before period_start");
            }
        }
        if let Some(decision) = &self.decision {
            errors.limit_text("decision.decided_by", decision.decided_by.as_deref(), MAX_SHORT);
            errors.check_date("decision.decided_on", decision.decided_on);
            errors.limit_text("decision.note", decision.note.as_deref(), MAX_TEXT);
        }
        for (field, text) in [
            ("perspectives.gender_equality", &self.perspectives.gender_equality),
            ("perspectives.children", &self.perspectives.children),
            ("perspectives.environment", &self.perspectives.environment),
            ("perspectives.consequences", &self.perspectives.consequences),
        ] {
            errors.limit_text(field, text.as_deref(), MAX_TEXT);
        }
        for (index, decision) in self.background_decisions.iter().enumerate() {
            errors.limit_text(&format!("background_decisions[{index}]"), Some(decision), MAX_TEXT);
        }
        errors.finish()
    }

    /// Whether the plan can still be changed: final plans are history.
    pub fn ensure_editable(&self) -> Result<(), DomainError> {
        if self.status.is_final() {
            return Err(DomainError::Conflict(format!(
                "the plan is {} and can no longer be changed",
                self.status.as_str()
            )));
        }
        Ok(())
    }

    /// Applies a patch; returns the names of the fields that changed.
    pub fn apply_patch(&mut self, patch: PlanPatch) -> Result<Vec<&'static str>, DomainError> {
        self.ensure_editable()?;
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
        note(patch.diary_number.apply_to(&mut self.diary_number), "diary_number");
        note(
            patch.document_version.apply_to(&mut self.document_version),
            "document_version",
        );
        note(patch.period_start.apply_to(&mut self.period_start), "period_start");
        note(patch.period_end.apply_to(&mut self.period_end), "period_end");
        note(patch.owner.apply_to(&mut self.owner), "owner");
        note(patch.summary.apply_to(&mut self.summary), "summary");
        let mut perspectives = Some(self.perspectives.clone());
        if patch.perspectives.apply_to(&mut perspectives) {
            self.perspectives = perspectives.unwrap_or_default();
            note(true, "perspectives");
        }
        let mut background = Some(self.background_decisions.clone());
        if patch.background_decisions.apply_to(&mut background) {
            self.background_decisions = background.unwrap_or_default();
            note(true, "background_decisions");
        }
        self.validate()?;
        Ok(changed)
    }

    /// Checks and applies a status transition. The caller checks that
    /// `superseded_by` names an existing plan, which needs the database.
    pub fn transition(&mut self, request: &TransitionRequest) -> Result<TransitionOutcome, DomainError> {
        let from = self.status;
        let to = request.to;
        if !from.allowed_next().contains(&to) {
            return Err(DomainError::InvalidTransition {
                from: from.as_str().to_owned(),
                to: to.as_str().to_owned(),
                allowed: from.allowed_next().iter().map(|s| s.as_str().to_owned()).collect(),
            });
        }
        request.validate_for(from, &self.id)?;

        let mut changelog_entry = None;
        match to {
            PlanStatus::Adopted => {
                let decision = Decision {
                    decided_by: request.decided_by.clone(),
                    decided_on: request.decided_on,
                    note: request.note.clone(),
                };
                if from == PlanStatus::UnderRevision {
                    self.document_version = request.document_version.clone();
                    changelog_entry = Some(ChangelogEntry {
                        document_version: request.document_version.clone(),
                        date: request.date.or(request.decided_on),
                        change: request.change.clone(),
                        decided_by: request.decided_by.clone(),
                        decided_on: request.decided_on,
                    });
                }
                self.decision = (!decision.is_empty()).then_some(decision);
            }
            PlanStatus::Superseded => self.superseded_by = request.superseded_by.clone(),
            _ => {}
        }
        self.status = to;
        Ok(TransitionOutcome {
            from,
            to,
            changelog_entry,
        })
    }
}

/// Body of `POST /v1/plans/{id}/transitions`; which fields are required depends on `to`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    pub to: PlanStatus,
    /// Required to adopt.
    #[serde(default)]
    pub decided_by: Option<String>,
    /// Required to adopt.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[1-9]"))]
    pub decided_on: Option<NaiveDate>,
    /// Optional note on the decision, kept in `decision.note`.
    #[serde(default)]
    pub note: Option<String>,
    /// Required to withdraw, revise or close.
    #[serde(default)]
    pub reason: Option<String>,
    /// Required to re-adopt a plan under revision: the new version, as the document writes it.
    #[serde(default)]
    pub document_version: Option<String>,
    /// Required to re-adopt a plan under revision: what changed (the changelog text).
    #[serde(default)]
    pub change: Option<String>,
    /// Date of the new document version for the changelog; defaults to `decided_on`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[1-9]"))]
    pub date: Option<NaiveDate>,
    /// Required to supersede: the id of the plan that replaces this one.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "uuid"))]
    pub superseded_by: Option<PlanId>,
}

impl TransitionRequest {
    fn validate_for(&self, from: PlanStatus, plan_id: &PlanId) -> Result<(), DomainError> {
        let mut errors = Errors::new();
        let mut require = |field: &str, present: bool| {
            if !present {
                errors.add(
                    field,
                    format!("is required to move a {} plan to {}", from.as_str(), self.to.as_str()),
                );
            }
        };
        let has_text = |text: &Option<String>| text.as_deref().is_some_and(|t| !t.trim().is_empty());
        match self.to {
            PlanStatus::Adopted => {
                require("decided_by", has_text(&self.decided_by));
                require("decided_on", self.decided_on.is_some());
                if from == PlanStatus::UnderRevision {
                    require("document_version", has_text(&self.document_version));
                    require("change", has_text(&self.change));
                }
            }
            PlanStatus::Withdrawn | PlanStatus::UnderRevision | PlanStatus::Closed => {
                require("reason", has_text(&self.reason));
            }
            PlanStatus::Superseded => {
                require("superseded_by", self.superseded_by.is_some());
            }
            PlanStatus::Draft => {}
        }
        if self.superseded_by.as_ref() == Some(plan_id) {
            errors.add("superseded_by", "a plan cannot supersede itself");
        }
        errors.limit_text("decided_by", self.decided_by.as_deref(), MAX_SHORT);
        errors.limit_text("document_version", self.document_version.as_deref(), MAX_SHORT);
        errors.limit_text("reason", self.reason.as_deref(), MAX_TEXT);
        errors.limit_text("change", self.change.as_deref(), MAX_TEXT);
        errors.limit_text("note", self.note.as_deref(), MAX_TEXT);
        errors.check_date("decided_on", self.decided_on);
        errors.check_date("date", self.date);
        errors.finish()
    }
}

/// What a transition did, for the event and the changelog.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionOutcome {
    pub from: PlanStatus,
    pub to: PlanStatus,
    pub changelog_entry: Option<ChangelogEntry>,
}

/// A plan with what is computed from it, as `GET /v1/plans/{id}` answers.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanView {
    #[serde(flatten)]
    pub plan: Plan,
    pub progress: Progress,
}

/// A plan with its goals and their activities, as `GET /v1/plans/{id}` answers.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanDetail {
    #[serde(flatten)]
    pub plan: Plan,
    pub progress: Progress,
    /// The plan's goals in document order, each with its activities.
    pub goals: Vec<GoalDetail>,
}

/// A goal with its activities, inside a [`PlanDetail`].
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GoalDetail {
    #[serde(flatten)]
    pub goal: crate::goal::Goal,
    pub progress: Progress,
    pub activities: Vec<crate::activity::Activity>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use PlanStatus::*;

    fn plan(status: PlanStatus) -> Plan {
        let mut plan = NewPlan {
            organization_id: OrganizationId::root(),
            title: "Övergripande handlingsplan mot våld i nära relation".into(),
            diary_number: Some("LS/1301/2014".into()),
            document_version: Some("1".into()),
            period_start: NaiveDate::from_ymd_opt(2015, 1, 1),
            period_end: NaiveDate::from_ymd_opt(2017, 12, 31),
            owner: None,
            summary: None,
            perspectives: None,
            background_decisions: vec![],
        }
        .into_plan(Utc::now())
        .expect("valid plan");
        plan.status = status;
        plan
    }

    fn to(status: PlanStatus) -> TransitionRequest {
        TransitionRequest {
            to: status,
            decided_by: None,
            decided_on: None,
            note: None,
            reason: None,
            document_version: None,
            change: None,
            date: None,
            superseded_by: None,
        }
    }

    fn complete(status: PlanStatus) -> TransitionRequest {
        TransitionRequest {
            decided_by: Some("LD".into()),
            decided_on: NaiveDate::from_ymd_opt(2014, 10, 16),
            reason: Some("Ny lagstiftning".into()),
            document_version: Some("2".into()),
            change: Some("Översyn av målformuleringar".into()),
            superseded_by: Some(PlanId::generate()),
            ..to(status)
        }
    }

    fn missing_fields(result: Result<TransitionOutcome, DomainError>) -> Vec<String> {
        match result {
            Err(DomainError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn every_legal_transition_is_accepted_with_its_required_fields() {
        for from in PlanStatus::ALL {
            for &next in from.allowed_next() {
                let mut plan = plan(from);
                let outcome = plan.transition(&complete(next)).expect("legal transition");
                assert_eq!((outcome.from, outcome.to, plan.status), (from, next, next));
            }
        }
    }

    #[test]
    fn every_illegal_transition_is_refused_with_the_allowed_targets() {
        for from in PlanStatus::ALL {
            for next in PlanStatus::ALL.into_iter().filter(|s| !from.allowed_next().contains(s)) {
                let mut plan = plan(from);
                match plan.transition(&complete(next)) {
                    Err(DomainError::InvalidTransition { allowed, .. }) => {
                        let expected: Vec<String> = from.allowed_next().iter().map(|s| s.as_str().to_owned()).collect();
                        assert_eq!(allowed, expected);
                    }
                    other => panic!("{from:?} -> {next:?} should be refused, got {other:?}"),
                }
                assert_eq!(plan.status, from, "a refused transition changes nothing");
            }
        }
    }

    #[test]
    fn the_transition_table_is_the_contract() {
        assert_eq!(Draft.allowed_next(), &[Adopted, Withdrawn]);
        assert_eq!(Adopted.allowed_next(), &[UnderRevision, Closed, Superseded]);
        assert_eq!(UnderRevision.allowed_next(), &[Adopted, Closed, Superseded]);
        assert!(Withdrawn.is_final() && Closed.is_final() && Superseded.is_final());
    }

    #[test]
    fn draft_plan_cannot_go_under_revision() {
        assert!(matches!(
            plan(Draft).transition(&complete(UnderRevision)),
            Err(DomainError::InvalidTransition { .. })
        ));
    }

    #[test]
    fn adopting_needs_who_decided_and_when() {
        assert_eq!(
            missing_fields(plan(Draft).transition(&to(Adopted))),
            ["decided_by", "decided_on"]
        );
    }

    #[test]
    fn re_adopting_needs_the_new_version_and_the_change() {
        let request = TransitionRequest {
            decided_by: Some("LD".into()),
            decided_on: NaiveDate::from_ymd_opt(2016, 1, 12),
            ..to(Adopted)
        };
        assert_eq!(
            missing_fields(plan(UnderRevision).transition(&request)),
            ["document_version", "change"]
        );
    }

    #[test]
    fn withdrawing_revising_and_closing_need_a_reason() {
        assert_eq!(missing_fields(plan(Draft).transition(&to(Withdrawn))), ["reason"]);
        assert_eq!(missing_fields(plan(Adopted).transition(&to(UnderRevision))), ["reason"]);
        assert_eq!(missing_fields(plan(Adopted).transition(&to(Closed))), ["reason"]);
        assert_eq!(missing_fields(plan(UnderRevision).transition(&to(Closed))), ["reason"]);
        let blank = TransitionRequest {
            reason: Some("  ".into()),
            ..to(Closed)
        };
        assert_eq!(missing_fields(plan(Adopted).transition(&blank)), ["reason"]);
    }

    #[test]
    fn superseding_needs_another_plan() {
        assert_eq!(
            missing_fields(plan(Adopted).transition(&to(Superseded))),
            ["superseded_by"]
        );
        let mut own = plan(Adopted);
        let itself = TransitionRequest {
            superseded_by: Some(own.id.clone()),
            ..to(Superseded)
        };
        assert_eq!(missing_fields(own.transition(&itself)), ["superseded_by"]);
    }

    #[test]
    fn re_adoption_writes_a_changelog_entry_and_the_new_version() {
        let mut plan = plan(UnderRevision);
        let outcome = plan.transition(&complete(Adopted)).expect("legal");
        let entry = outcome.changelog_entry.expect("changelog entry");
        assert_eq!(entry.document_version.as_deref(), Some("2"));
        assert_eq!(entry.date, NaiveDate::from_ymd_opt(2014, 10, 16));
        assert_eq!(plan.document_version.as_deref(), Some("2"));
        assert_eq!(plan.decision.and_then(|d| d.decided_by).as_deref(), Some("LD"));
    }

    #[test]
    fn first_adoption_writes_no_changelog_entry() {
        let outcome = plan(Draft).transition(&complete(Adopted)).expect("legal");
        assert!(outcome.changelog_entry.is_none());
    }

    #[test]
    fn period_end_before_start_is_refused() {
        let mut plan = plan(Draft);
        let patch = PlanPatch {
            period_end: Patch::Value(NaiveDate::from_ymd_opt(2014, 1, 1).expect("date")),
            ..Default::default()
        };
        match plan.apply_patch(patch) {
            Err(DomainError::Validation(errors)) => assert_eq!(errors[0].field, "period_end"),
            other => panic!("expected validation error, got {other:?}"),
        }
    }

    #[test]
    fn final_plans_cannot_be_patched() {
        for status in [Withdrawn, Closed, Superseded] {
            let patch = PlanPatch {
                title: Patch::Value("Ny titel".into()),
                ..Default::default()
            };
            assert!(matches!(plan(status).apply_patch(patch), Err(DomainError::Conflict(_))));
        }
    }

    #[test]
    fn patch_lists_changed_fields_and_null_clears() {
        let mut plan = plan(Draft);
        let patch = PlanPatch {
            diary_number: Patch::Null,
            owner: Patch::Value("Regiondirektör".into()),
            ..Default::default()
        };
        assert_eq!(plan.apply_patch(patch).expect("valid"), ["diary_number", "owner"]);
        assert_eq!(plan.diary_number, None);
    }
}
