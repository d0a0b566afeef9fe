//! The bulk-import format (`POST /v1/import/plans`, `planledger import`, and
//! what `GET /v1/export/plans` writes): read leniently, because real plan
//! documents are untidy — any field but a title may be null — yet checked
//! whole, so a file that breaks the format is refused with every error named
//! by its JSON path and nothing of it is written.

use crate::activity::{ActivityStatus, NewActivity};
use crate::goal::{GoalStatus, NewGoal, Target, TargetUnit};
use crate::ids::OrganizationId;
use crate::organization::{Organization, OrganizationKind};
use crate::plan::{ChangelogEntry, Decision, NewPlan, Perspectives, Plan, PlanDetail, PlanStatus};
use crate::validation::{Errors, FieldError};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Map, Number, Value};

/// How many were created and how many were already there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Counts {
    pub created: usize,
    pub unchanged: usize,
}

/// The answer of an import.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportSummary {
    pub organization_id: OrganizationId,
    /// Whether the import created the organization.
    pub organization_created: bool,
    pub plans: Counts,
    pub goals: Counts,
    pub activities: Counts,
}

/// A whole import file, checked.
#[derive(Debug, Clone)]
pub struct ImportDocument {
    pub organization: ImportOrganization,
    pub plans: Vec<ImportPlan>,
}

#[derive(Debug, Clone)]
pub struct ImportOrganization {
    pub name: String,
    pub kind: OrganizationKind,
    pub code: Option<String>,
}

/// A plan as the file states it. Its status is history, not a transition.
#[derive(Debug, Clone)]
pub struct ImportPlan {
    pub new_plan: NewPlan,
    pub status: PlanStatus,
    pub decision: Option<Decision>,
    pub changelog: Vec<ChangelogEntry>,
    pub goals: Vec<ImportGoal>,
}

#[derive(Debug, Clone)]
pub struct ImportGoal {
    pub goal: NewGoal,
    pub activities: Vec<NewActivity>,
}

impl ImportPlan {
    /// The plan to store for `organization_id`, keeping the status and decision the file gives.
    pub fn to_plan(&self, organization_id: OrganizationId, now: DateTime<Utc>) -> Result<Plan, crate::DomainError> {
        let mut new_plan = self.new_plan.clone();
        new_plan.organization_id = organization_id;
        let mut plan = new_plan.into_plan(now)?;
        plan.status = self.status;
        plan.decision = self.decision.clone();
        // The decision and the change log come from the file too: the same rules hold for them.
        let mut errors = Errors::new();
        if let Err(crate::DomainError::Validation(found)) = plan.validate() {
            for error in found {
                errors.add(error.field, error.message);
            }
        }
        for (index, entry) in self.changelog.iter().enumerate() {
            entry.validate(&mut errors, &format!("changelog[{index}]"));
        }
        errors.finish()?;
        Ok(plan)
    }
}

/// Writes plans in the import format, so that an export imported into an
/// empty installation gives the same plans.
pub fn write_document(organization: &Organization, plans: &[(PlanDetail, Vec<ChangelogEntry>)]) -> Value {
    let plans: Vec<Value> = plans
        .iter()
        .map(|(detail, changelog)| {
            let plan = &detail.plan;
            let goals: Vec<Value> = detail
                .goals
                .iter()
                .map(|goal| {
                    let activities: Vec<Value> = goal
                        .activities
                        .iter()
                        .map(|a| {
                            json!({
                                "title": a.title, "target_group": a.target_group, "measure": a.measure,
                                "targets": a.targets, "timeline": a.timeline, "start_year": a.start_year,
                                "end_year": a.end_year, "due_date": a.due_date,
                                "responsible_execution": a.responsible_execution,
                                "responsible_followup": a.responsible_followup, "status": a.status, "comment": a.comment,
                            })
                        })
                        .collect();
                    let goal = &goal.goal;
                    json!({
                        "number": goal.number, "title": goal.title, "reference": goal.reference,
                        "status": goal.status, "targets": goal.targets, "activities": activities,
                    })
                })
                .collect();
            json!({
                "title": plan.title, "diary_number": plan.diary_number, "document_version": plan.document_version,
                "period_start": plan.period_start, "period_end": plan.period_end, "owner": plan.owner,
                "status": plan.status, "decision": plan.decision, "summary": plan.summary,
                "perspectives": plan.perspectives, "background_decisions": plan.background_decisions,
                "changelog": changelog, "goals": goals,
            })
        })
        .collect();
    json!({
        "organization": {"name": organization.name, "kind": organization.kind, "code": organization.code},
        "plans": plans,
    })
}

/// Reads and checks an import file; every error carries its JSON path.
pub fn read_document(value: &Value) -> Result<ImportDocument, Vec<FieldError>> {
    let mut reader = Reader { errors: Errors::new() };
    let document = reader.document(value);
    if reader.errors.is_empty() {
        document.ok_or_else(|| vec![FieldError::new("$", "must be an import document")])
    } else {
        Err(reader.errors.into_vec())
    }
}

struct Reader {
    errors: Errors,
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl Reader {
    fn document(&mut self, value: &Value) -> Option<ImportDocument> {
        let root = self.object(value, "$")?;
        let organization = match root.get("organization") {
            Some(value) => self.organization(value, "organization"),
            None => {
                self.errors.add("organization", "is required");
                None
            }
        };
        let plans = match root.get("plans") {
            Some(Value::Array(plans)) => plans
                .iter()
                .enumerate()
                .filter_map(|(index, plan)| self.plan(plan, &format!("plans[{index}]")))
                .collect(),
            Some(_) => {
                self.errors.add("plans", "must be a list");
                vec![]
            }
            None => {
                self.errors.add("plans", "is required");
                vec![]
            }
        };
        Some(ImportDocument {
            organization: organization?,
            plans,
        })
    }

    fn organization(&mut self, value: &Value, path: &str) -> Option<ImportOrganization> {
        let object = self.object(value, path)?;
        let name = self.required_text(object, "name", path);
        let kind = self.word(
            object,
            "kind",
            path,
            OrganizationKind::parse,
            &OrganizationKind::ALL.map(|k| k.as_str()),
        );
        let code = self.text(object, "code", path);
        if kind == Some(OrganizationKind::National) {
            self.errors.add(
                child(path, "kind"),
                "plans are imported for a region, municipality or other body, not the root",
            );
        }
        match (name, kind) {
            (Some(name), Some(kind)) => Some(ImportOrganization { name, kind, code }),
            (name, kind) => {
                if kind.is_none() && object.get("kind").is_none_or(Value::is_null) {
                    self.errors.add(child(path, "kind"), "is required");
                }
                let _ = name;
                None
            }
        }
    }

    fn plan(&mut self, value: &Value, path: &str) -> Option<ImportPlan> {
        let object = self.object(value, path)?;
        let title = self.required_text(object, "title", path);
        let decision = match object.get("decision") {
            None | Some(Value::Null) => None,
            Some(value) => self.object(value, &child(path, "decision")).map(|decision| {
                let decision_path = child(path, "decision");
                Decision {
                    decided_by: self.text(decision, "decided_by", &decision_path),
                    decided_on: self.date(decision, "decided_on", &decision_path),
                    note: self.text(decision, "note", &decision_path),
                }
            }),
        };
        let perspectives = match object.get("perspectives") {
            None | Some(Value::Null) => None,
            Some(value) => self.object(value, &child(path, "perspectives")).map(|p| {
                let p_path = child(path, "perspectives");
                Perspectives {
                    gender_equality: self.text(p, "gender_equality", &p_path),
                    children: self.text(p, "children", &p_path),
                    environment: self.text(p, "environment", &p_path),
                    consequences: self.text(p, "consequences", &p_path),
                }
            }),
        };
        let new_plan = NewPlan {
            organization_id: OrganizationId::root(),
            title: title.clone().unwrap_or_default(),
            diary_number: self.text(object, "diary_number", path),
            document_version: self.text(object, "document_version", path),
            period_start: self.date(object, "period_start", path),
            period_end: self.date(object, "period_end", path),
            owner: self.text(object, "owner", path),
            summary: self.text(object, "summary", path),
            perspectives,
            background_decisions: self
                .list(object, "background_decisions", path)
                .iter()
                .enumerate()
                .filter_map(|(index, item)| self.text_item(item, &format!("{path}.background_decisions[{index}]")))
                .collect(),
        };
        let status = self
            .word(
                object,
                "status",
                path,
                PlanStatus::parse,
                &PlanStatus::ALL.map(|s| s.as_str()),
            )
            .unwrap_or(PlanStatus::Draft);
        let changelog = self
            .list(object, "changelog", path)
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| {
                let entry_path = format!("{path}.changelog[{index}]");
                let entry = self.object(entry, &entry_path)?;
                Some(ChangelogEntry {
                    document_version: self.text(entry, "document_version", &entry_path),
                    date: self.date(entry, "date", &entry_path),
                    change: self.text(entry, "change", &entry_path),
                    decided_by: self.text(entry, "decided_by", &entry_path),
                    decided_on: self.date(entry, "decided_on", &entry_path),
                })
            })
            .collect();
        let goals = self
            .list(object, "goals", path)
            .iter()
            .enumerate()
            .filter_map(|(index, goal)| self.goal(goal, &format!("{path}.goals[{index}]")))
            .collect();
        let plan = ImportPlan {
            new_plan,
            status,
            decision,
            changelog,
            goals,
        };
        title?;
        if let Err(crate::DomainError::Validation(errors)) = plan.to_plan(OrganizationId::root(), Utc::now()) {
            self.prefixed(path, errors);
        }
        Some(plan)
    }

    fn goal(&mut self, value: &Value, path: &str) -> Option<ImportGoal> {
        let object = self.object(value, path)?;
        let title = self.required_text(object, "title", path);
        let goal = NewGoal {
            number: self.text(object, "number", path),
            title: title.clone().unwrap_or_default(),
            reference: self.text(object, "reference", path),
            parent_goal_id: None,
            status: self.word(
                object,
                "status",
                path,
                GoalStatus::parse,
                &GoalStatus::ALL.map(|s| s.as_str()),
            ),
            targets: self.targets(object, path),
        };
        let activities = self
            .list(object, "activities", path)
            .iter()
            .enumerate()
            .filter_map(|(index, activity)| self.activity(activity, &format!("{path}.activities[{index}]")))
            .collect();
        title?;
        if let Err(crate::DomainError::Validation(errors)) =
            goal.clone().into_goal(crate::ids::PlanId::generate(), Utc::now())
        {
            self.prefixed(path, errors);
        }
        Some(ImportGoal { goal, activities })
    }

    fn activity(&mut self, value: &Value, path: &str) -> Option<NewActivity> {
        let object = self.object(value, path)?;
        let title = self.required_text(object, "title", path);
        let activity = NewActivity {
            title: title.clone().unwrap_or_default(),
            target_group: self.text(object, "target_group", path),
            measure: self.text(object, "measure", path),
            targets: self.targets(object, path),
            start_year: self.year(object, "start_year", path),
            end_year: self.year(object, "end_year", path),
            timeline: self.text(object, "timeline", path),
            due_date: self.date(object, "due_date", path),
            responsible_execution: self.text(object, "responsible_execution", path),
            responsible_followup: self.text(object, "responsible_followup", path),
            indicator_id: None,
            status: self.word(
                object,
                "status",
                path,
                ActivityStatus::parse,
                &ActivityStatus::ALL.map(|s| s.as_str()),
            ),
            comment: self.text(object, "comment", path),
        };
        title?;
        let check = activity.clone().into_activity(
            crate::ids::GoalId::generate(),
            crate::ids::PlanId::generate(),
            Utc::now(),
        );
        if let Err(crate::DomainError::Validation(errors)) = check {
            self.prefixed(path, errors);
        }
        Some(activity)
    }

    fn targets(&mut self, object: &Map<String, Value>, path: &str) -> Vec<Target> {
        self.list(object, "targets", path)
            .iter()
            .enumerate()
            .filter_map(|(index, target)| {
                let target_path = format!("{path}.targets[{index}]");
                let target = self.object(target, &target_path)?;
                let unit = self.word(
                    target,
                    "unit",
                    &target_path,
                    TargetUnit::parse,
                    &TargetUnit::ALL.map(|u| u.as_str()),
                );
                Some(Target {
                    period: self.period(target, "period", &target_path),
                    value: self.number(target, "value", &target_path),
                    unit: unit.unwrap_or(TargetUnit::Text),
                    text: self.text(target, "text", &target_path),
                })
            })
            .collect()
    }

    fn prefixed(&mut self, path: &str, errors: Vec<FieldError>) {
        for error in errors {
            self.errors.add(child(path, &error.field), error.message);
        }
    }

    fn object<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Object(object) => Some(object),
            _ => {
                self.errors.add(path, "must be an object");
                None
            }
        }
    }

    fn list<'v>(&mut self, object: &'v Map<String, Value>, key: &str, path: &str) -> &'v [Value] {
        match object.get(key) {
            None | Some(Value::Null) => &[],
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.errors.add(child(path, key), "must be a list");
                &[]
            }
        }
    }

    fn text(&mut self, object: &Map<String, Value>, key: &str, path: &str) -> Option<String> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => {
                self.errors.add(child(path, key), "must be text or null");
                None
            }
        }
    }

    fn text_item(&mut self, value: &Value, path: &str) -> Option<String> {
        match value {
            Value::String(text) => Some(text.clone()),
            _ => {
                self.errors.add(path, "must be text");
                None
            }
        }
    }

    fn required_text(&mut self, object: &Map<String, Value>, key: &str, path: &str) -> Option<String> {
        let text = self.text(object, key, path);
        if text.as_deref().is_none_or(|t| t.trim().is_empty())
            && !matches!(object.get(key), Some(v) if !v.is_string() && !v.is_null())
        {
            self.errors.add(child(path, key), "is required");
            return None;
        }
        text
    }

    fn date(&mut self, object: &Map<String, Value>, key: &str, path: &str) -> Option<NaiveDate> {
        let text = self.text(object, key, path)?;
        match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(date) => Some(date),
            Err(_) => {
                self.errors.add(child(path, key), "must be a date, YYYY-MM-DD");
                None
            }
        }
    }

    fn year(&mut self, object: &Map<String, Value>, key: &str, path: &str) -> Option<i32> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            // `2015.0` is the same number as `2015`, as JSON Schema's `integer` has it.
            Some(Value::Number(number)) => match number
                .as_i64()
                .or_else(|| {
                    number
                        .as_f64()
                        .filter(|n| n.fract() == 0.0 && n.abs() <= 1e9)
                        .map(|n| n as i64)
                })
                .and_then(|n| i32::try_from(n).ok())
            {
                Some(year) => Some(year),
                None => {
                    self.errors.add(child(path, key), "must be a whole year");
                    None
                }
            },
            Some(_) => {
                self.errors.add(child(path, key), "must be a year or null");
                None
            }
        }
    }

    fn number(&mut self, object: &Map<String, Value>, key: &str, path: &str) -> Option<Number> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Number(number)) => Some(number.clone()),
            Some(_) => {
                self.errors.add(child(path, key), "must be a number or null");
                None
            }
        }
    }

    /// A target's period: text as written, or a year given as a number.
    fn period(&mut self, object: &Map<String, Value>, key: &str, path: &str) -> Option<String> {
        match object.get(key) {
            Some(Value::Number(number)) if number.is_i64() => Some(number.to_string()),
            _ => self.text(object, key, path),
        }
    }

    fn word<T>(
        &mut self,
        object: &Map<String, Value>,
        key: &str,
        path: &str,
        parse: fn(&str) -> Option<T>,
        allowed: &[&str],
    ) -> Option<T> {
        let text = self.text(object, key, path)?;
        let parsed = parse(&text);
        if parsed.is_none() {
            self.errors
                .add(child(path, key), format!("must be one of: {}", allowed.join(", ")));
        }
        parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(result: Result<ImportDocument, Vec<FieldError>>) -> Vec<String> {
        result
            .expect_err("should be refused")
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn untidy_but_real_records_are_accepted() {
        let document = json!({
            "organization": {"name": "Region Jämtland Härjedalen", "kind": "region", "code": "23"},
            "plans": [{"title": "Plan utan diarienummer", "diary_number": null, "period_end": null,
                       "status": "under_revision", "decision": {"decided_by": null, "decided_on": null, "note": "Omarbetning pågår"},
                       "goals": []},
                      {"title": "Plan", "goals": [{"title": "Mål", "number": null,
                          "activities": [{"title": "Aktivitet", "targets": [{"period": null, "value": null, "unit": "text", "text": "Fyra utbildare"}]}]}]}]
        });
        let document = read_document(&document).expect("accepted");
        assert_eq!(document.plans.len(), 2);
        assert_eq!(document.plans[0].status, PlanStatus::UnderRevision);
        assert_eq!(document.plans[1].status, PlanStatus::Draft);
        assert_eq!(
            document.plans[1].goals[0].activities[0].targets[0].text.as_deref(),
            Some("Fyra utbildare")
        );
    }

    #[test]
    fn every_error_is_named_by_its_json_path() {
        let document = json!({
            "organization": {"name": "Region", "kind": "county"},
            "plans": [
                {"title": "Bra plan"},
                {"title": "", "period_start": "2015-13-01"},
                {"title": "Plan", "period_start": "2016-01-01", "period_end": "2015-01-01",
                 "goals": [{"title": null, "activities": [{"title": "A", "status": "finished", "start_year": "2015"}]}]}
            ]
        });
        assert_eq!(
            fields(read_document(&document)),
            [
                "organization.kind",
                "plans[1].title",
                "plans[1].period_start",
                "plans[2].goals[0].title",
                "plans[2].goals[0].activities[0].start_year",
                "plans[2].goals[0].activities[0].status",
                "plans[2].period_end",
            ]
        );
    }

    #[test]
    fn a_plan_s_decision_and_change_log_follow_the_rules_of_a_plan() {
        let long = "x".repeat(20_001);
        let document = json!({
            "organization": {"name": "Region", "kind": "region"},
            "plans": [{"title": "Plan", "status": "adopted",
                "decision": {"decided_by": "LD", "decided_on": "0999-01-01", "note": long},
                "changelog": [{"document_version": "2", "change": long}]}]
        });
        assert_eq!(
            fields(read_document(&document)),
            [
                "plans[0].decision.decided_on",
                "plans[0].decision.note",
                "plans[0].changelog[0].change",
            ]
        );
    }

    #[test]
    fn a_year_written_with_a_fraction_is_the_same_year() {
        let document = json!({
            "organization": {"name": "Region", "kind": "region"},
            "plans": [{"title": "Plan", "goals": [{"title": "Mål",
                "activities": [{"title": "A", "start_year": 2015.0, "end_year": 2016}]}]}]
        });
        let read = read_document(&document).expect("accepted");
        let activity = &read.plans[0].goals[0].activities[0];
        assert_eq!((activity.start_year, activity.end_year), (Some(2015), Some(2016)));
        let half = json!({
            "organization": {"name": "Region", "kind": "region"},
            "plans": [{"title": "Plan", "goals": [{"title": "Mål", "activities": [{"title": "A", "start_year": 2015.5}]}]}]
        });
        assert_eq!(
            fields(read_document(&half)),
            ["plans[0].goals[0].activities[0].start_year"]
        );
    }

    #[test]
    fn a_document_that_is_not_an_object_is_refused() {
        assert_eq!(fields(read_document(&json!([1, 2]))), ["$"]);
        assert_eq!(fields(read_document(&json!({"plans": []}))), ["organization"]);
        assert_eq!(
            fields(read_document(
                &json!({"organization": {"name": "R", "kind": "region"}, "plans": {}})
            )),
            ["plans"]
        );
    }
}
