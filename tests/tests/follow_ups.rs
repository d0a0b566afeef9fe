//! Follow-up reports over real HTTP: the region's year (write, submit,
//! return, fix, resubmit, approve, and the goals and activities moving with
//! their events), every legal and illegal transition, one open report per
//! plan, period and kind, only drafts editable, what the plan may assess, an
//! approval that fails whole, and who may do what.

use planledger_api::auth::{Authenticator, JwtSettings};
use planledger_domain::ids::{OrganizationId, ROOT_ORGANIZATION_ID};
use planledger_domain::permissions::Role;
use planledger_tests::{backend_tests, Reply, TestApp, AUDIENCE, ISSUER, JWT_SECRET};
use serde_json::{json, Value};
use std::time::Duration;

const STATUSES: [&str; 4] = ["draft", "submitted", "approved", "returned"];

/// The legal targets of `from`, in API.md's order.
fn legal_targets(from: &str) -> Vec<&'static str> {
    match from {
        "draft" => vec!["submitted"],
        "submitted" => vec!["approved", "returned"],
        "returned" => vec!["draft"],
        "approved" => vec![],
        other => panic!("unknown follow-up status {other}"),
    }
}

/// A token with its own `sub`, so that the log can tell the editor from the approver.
fn token_as(subject: &str, organization: &str, roles: &[Role]) -> String {
    let authenticator = Authenticator::new(JwtSettings {
        secret: JWT_SECRET.as_bytes().to_vec(),
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        identity_provider: None,
        client_token_ttl: Duration::from_secs(900),
    });
    let organization = OrganizationId::parse(organization).expect("organization id");
    authenticator
        .issue(subject, &organization, roles, Duration::from_secs(3600))
        .expect("token")
}

fn id_of(resource: &Value) -> String {
    resource["id"]
        .as_str()
        .unwrap_or_else(|| panic!("id in {resource}"))
        .to_owned()
}

async fn move_to(app: &TestApp, token: &str, report: &str, to: &str, reason: Option<&str>) -> Reply {
    let body = json!({"to": to, "reason": reason});
    app.post(&format!("/v1/follow-ups/{report}/transitions"), Some(token), &body)
        .await
}

async fn write_report(app: &TestApp, token: &str, plan: &str, body: &Value) -> Reply {
    app.post(&format!("/v1/plans/{plan}/follow-ups"), Some(token), body)
        .await
}

/// A draft plan of the root organization with three goals and two activities under the first.
async fn plan_with_contents(app: &TestApp) -> (String, Vec<String>, Vec<String>) {
    let token = app.root_token();
    let plan = app
        .create_plan(ROOT_ORGANIZATION_ID, "Handlingsplan med uppföljning")
        .await;
    let mut goals = Vec::new();
    for number in 1..=3 {
        let body = json!({"number": number.to_string(), "title": format!("Mål {number}")});
        let goal = app.post(&format!("/v1/plans/{plan}/goals"), Some(&token), &body).await;
        goals.push(id_of(&goal.created()));
    }
    let mut activities = Vec::new();
    for title in ["Utbildning för chefer", "Kartläggning av statistik"] {
        let body = json!({"title": title});
        let activity = app
            .post(&format!("/v1/goals/{}/activities", goals[0]), Some(&token), &body)
            .await;
        activities.push(id_of(&activity.created()));
    }
    (plan, goals, activities)
}

/// A report of the plan for `period`, moved by legal transitions to `status` (root token).
async fn report_in(app: &TestApp, plan: &str, period: &str, status: &str) -> String {
    let token = app.root_token();
    let body = json!({"period": period, "kind": "annual", "summary": "Årets uppföljning"});
    let report = id_of(&write_report(app, &token, plan, &body).await.created());
    let steps: &[&str] = match status {
        "draft" => &[],
        "submitted" => &["submitted"],
        "approved" => &["submitted", "approved"],
        "returned" => &["submitted", "returned"],
        other => panic!("unknown follow-up status {other}"),
    };
    for step in steps {
        move_to(app, &token, report.as_str(), step, Some("Komplettera"))
            .await
            .ok();
    }
    report
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    app.get(path, Some(&app.root_token())).await.ok()
}

backend_tests! {
    async fn the_regions_year_is_written_returned_fixed_and_approved(app: TestApp) {
        let root = app.root_token();
        let demo: Value = serde_json::from_str(planledger_api::DEMO_DATA).expect("demo data");
        let summary = app.post("/v1/import/plans", Some(&root), &demo).await.ok();
        let region = summary["organization_id"].as_str().expect("organization id").to_owned();
        let plans = get_json(&app, &format!("/v1/plans?organization_id={region}&limit=100")).await;
        let plan = plans["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|plan| plan["diary_number"] == "LS/1300/2014")
            .map(id_of)
            .expect("the plan for a jämställd och jämlik verksamhet");
        let detail = get_json(&app, &format!("/v1/plans/{plan}")).await;
        let goals: Vec<String> = detail["goals"].as_array().expect("goals").iter().map(id_of).collect();
        let activities: Vec<String> = detail["goals"][0]["activities"]
            .as_array()
            .expect("activities")
            .iter()
            .map(id_of)
            .collect();
        assert!(goals.len() >= 3 && activities.len() >= 3);
        assert_eq!(detail["goals"][1]["status"], "not_started");

        let editor = token_as("karin.editor", &region, &[Role::Reader, Role::Editor]);
        let approver = token_as("per.approver", &region, &[Role::Reader, Role::Approver]);

        // The editor writes the 2015 annual report.
        let body = json!({
            "period": "2015", "kind": "annual", "summary": "Arbetet har kommit igång under året.",
            "goal_assessments": [
                {"goal_id": goals[0], "status": "on_track", "comment": "Läkargruppen är inrättad"},
                {"goal_id": goals[1], "status": "not_started", "comment": "Oförändrat"}
            ],
            "activity_updates": [
                {"activity_id": activities[0], "status": "done", "comment": "Gruppen arbetar"},
                {"activity_id": activities[1], "status": "in_progress", "comment": null}
            ],
            "measurements": [{"activity_id": activities[0], "indicator_id": null, "value": 1520, "comment": null}]
        });
        let created = write_report(&app, &editor, &plan, &body).await;
        let location = created.header("location").expect("Location");
        let report = created.created();
        let id = id_of(&report);
        assert_eq!(location, format!("/v1/follow-ups/{id}"));
        for (field, value) in [
            ("plan_id", json!(plan)), ("period", json!("2015")), ("kind", json!("annual")),
            ("status", json!("draft")), ("revision", json!(1)), ("submitted_by", Value::Null),
            ("approved_by", Value::Null), ("measurements", body["measurements"].clone()),
            ("goal_assessments", body["goal_assessments"].clone()),
        ] {
            assert_eq!(report[field], value, "{field}");
        }

        // Submitted, then returned with a reason.
        let submitted = move_to(&app, &editor, &id, "submitted", None).await.ok();
        assert_eq!(submitted["status"], "submitted");
        assert_eq!(submitted["submitted_by"], "karin.editor");
        assert!(submitted["submitted_at"].is_string());
        let returned = move_to(&app, &approver, &id, "returned", Some("Mål 3 saknar bedömning")).await.ok();
        assert_eq!(returned["status"], "returned");

        // Fixed: back to draft, the missing assessment added, resubmitted.
        app.patch(&format!("/v1/follow-ups/{id}"), Some(&editor), &json!({"summary": "x"}))
            .await
            .problem(409);
        let reopened = move_to(&app, &editor, &id, "draft", None).await.ok();
        assert_eq!(reopened["status"], "draft");
        let mut assessments = body["goal_assessments"].as_array().expect("assessments").clone();
        assessments.push(json!({"goal_id": goals[2], "status": "at_risk", "comment": "Resurser saknas"}));
        let mut updates = body["activity_updates"].as_array().expect("updates").clone();
        updates.push(json!({"activity_id": activities[2], "status": "postponed", "comment": "Flyttas till 2016"}));
        let fixed = app
            .patch(
                &format!("/v1/follow-ups/{id}"),
                Some(&editor),
                &json!({"goal_assessments": assessments, "activity_updates": updates}),
            )
            .await
            .ok();
        assert_eq!(fixed["goal_assessments"].as_array().map(Vec::len), Some(3));
        move_to(&app, &editor, &id, "submitted", None).await.ok();

        // Approved: every assessment lands on the goals and activities.
        let status_path = format!("/v1/reports/status?organization_id={region}&period=2015");
        let status_row = |report: &Value| {
            report["items"].as_array().expect("items").iter().find(|i| i["plan_id"] == json!(plan)).expect("the plan's row").clone()
        };
        let before = status_row(&get_json(&app, &status_path).await);
        assert_eq!(before["follow_up_status"], "submitted");
        let head = app.head_seq().await;
        let unchanged_goal = get_json(&app, &format!("/v1/goals/{}", goals[1])).await;
        let approved = move_to(&app, &approver, &id, "approved", None).await.ok();
        assert_eq!(approved["status"], "approved");
        assert_eq!(approved["approved_by"], "per.approver");
        assert!(approved["approved_at"].is_string());
        for (goal, status) in [(&goals[0], "on_track"), (&goals[1], "not_started"), (&goals[2], "at_risk")] {
            assert_eq!(get_json(&app, &format!("/v1/goals/{goal}")).await["status"], status);
        }
        assert_eq!(
            get_json(&app, &format!("/v1/goals/{}", goals[1])).await["revision"],
            unchanged_goal["revision"],
            "an assessment to the status a goal has changes nothing"
        );
        for (activity, status) in [(&activities[0], "done"), (&activities[1], "in_progress"), (&activities[2], "postponed")] {
            assert_eq!(get_json(&app, &format!("/v1/activities/{activity}")).await["status"], status);
        }

        // The status report shows the year as approved: one goal on track and one at risk more,
        // one activity done, one in progress and one postponed more, three planned fewer.
        let after = status_row(&get_json(&app, &status_path).await);
        assert_eq!(after["follow_up_id"], json!(id));
        assert_eq!(after["follow_up_kind"], "annual");
        assert_eq!(after["follow_up_status"], "approved");
        let moved = |field: &str| after[field].as_i64().expect(field) - before[field].as_i64().expect(field);
        for (field, change) in [
            ("goals_not_started", -2), ("goals_on_track", 1), ("goals_at_risk", 1), ("goals_total", 0),
            ("activities_planned", -3), ("activities_done", 1), ("activities_in_progress", 1),
            ("activities_postponed", 1), ("activities_total", 0),
        ] {
            assert_eq!(moved(field), change, "{field}");
        }

        // One status change per changed goal and activity, by the approver, naming the report.
        let events = app.events_after(head).await;
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().expect("type")).collect();
        assert_eq!(
            types,
            ["follow_up.status_changed", "goal.status_changed", "goal.status_changed",
             "activity.status_changed", "activity.status_changed", "activity.status_changed"]
        );
        let expected = [
            (&goals[0], "not_started", "on_track", json!("Läkargruppen är inrättad")),
            (&goals[2], "not_started", "at_risk", json!("Resurser saknas")),
            (&activities[0], "planned", "done", json!("Gruppen arbetar")),
            (&activities[1], "planned", "in_progress", Value::Null),
            (&activities[2], "planned", "postponed", json!("Flyttas till 2016")),
        ];
        for (event, (subject, from, to, reason)) in events[1..].iter().zip(expected) {
            assert_eq!(event["subject"]["id"], json!(subject));
            assert_eq!(event["actor"]["sub"], "per.approver");
            assert_eq!(event["organization_id"], json!(region));
            assert_eq!(event["data"]["follow_up_id"], json!(id));
            assert_eq!(event["data"]["from"], from);
            assert_eq!(event["data"]["to"], to);
            assert_eq!(event["data"]["reason"], reason);
            assert_eq!(event["data"]["snapshot"]["status"], to);
        }
        assert_eq!(events[0]["subject"], json!({"type": "follow_up", "id": id}));
        assert_eq!(events[0]["data"]["from"], "submitted");
        assert_eq!(events[0]["data"]["to"], "approved");

        // The plan's history tells the whole year.
        let history = get_json(&app, &format!("/v1/plans/{plan}/history?limit=1000")).await;
        let about_report: Vec<(String, Value, Value)> = history["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["subject"]["id"] == json!(id))
            .map(|e| (e["type"].as_str().expect("type").to_owned(), e["data"]["to"].clone(), e["data"]["reason"].clone()))
            .collect();
        let step = |t: &str, to: Value, reason: Value| (t.to_owned(), to, reason);
        assert_eq!(
            about_report,
            [
                step("follow_up.created", Value::Null, Value::Null),
                step("follow_up.status_changed", json!("submitted"), Value::Null),
                step("follow_up.status_changed", json!("returned"), json!("Mål 3 saknar bedömning")),
                step("follow_up.status_changed", json!("draft"), Value::Null),
                step("follow_up.updated", Value::Null, Value::Null),
                step("follow_up.status_changed", json!("submitted"), Value::Null),
                step("follow_up.status_changed", json!("approved"), Value::Null),
            ]
        );
        let applied = history["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["data"]["follow_up_id"] == json!(id))
            .count();
        assert_eq!(applied, 5);

        // An approved report of a public plan is public material.
        assert_eq!(app.get(&format!("/v1/follow-ups/{id}"), None).await.ok()["status"], "approved");
        let listed = app.get(&format!("/v1/plans/{plan}/follow-ups"), None).await.ok();
        assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
        assert_eq!(app.get("/v1/events/verify", Some(&root)).await.ok()["ok"], true);
    }

    async fn every_follow_up_transition_is_legal_or_answers_the_allowed_targets(app: TestApp) {
        let token = app.root_token();
        let (plan, _, _) = plan_with_contents(&app).await;
        let mut year = 2000;
        for from in STATUSES {
            for to in STATUSES {
                year += 1;
                let report = report_in(&app, &plan, &year.to_string(), from).await;
                let before = get_json(&app, &format!("/v1/follow-ups/{report}")).await;
                let head = app.head_seq().await;
                let reply = move_to(&app, &token, &report, to, Some("Komplettera")).await;
                if legal_targets(from).contains(&to) {
                    let after = reply.ok();
                    assert_eq!(after["status"], to, "{from} → {to}");
                    assert_eq!(after["revision"], before["revision"].as_i64().expect("revision") + 1);
                    let events = app.events_after(head).await;
                    assert_eq!(events.len(), 1, "{from} → {to}: one event");
                    assert_eq!(events[0]["type"], "follow_up.status_changed");
                    assert_eq!(events[0]["data"]["from"], from);
                    assert_eq!(events[0]["data"]["to"], to);
                    assert_eq!(events[0]["subject"]["id"], json!(report));
                } else {
                    let problem = reply.problem(409);
                    assert_eq!(problem["type"], "/problems/invalid-transition", "{from} → {to}");
                    assert_eq!(problem["allowed"], json!(legal_targets(from)), "{from} → {to}");
                    assert_eq!(get_json(&app, &format!("/v1/follow-ups/{report}")).await, before);
                    assert_eq!(app.head_seq().await, head, "{from} → {to}: no event");
                }
            }
        }
        // Returning needs a reason; an unknown status is a 422 naming the field.
        let submitted = report_in(&app, &plan, "2100", "submitted").await;
        let problem = move_to(&app, &token, &submitted, "returned", None).await.problem(422);
        assert_eq!(problem["errors"][0]["field"], "reason");
        let problem = move_to(&app, &token, &submitted, "archived", None).await.problem(422);
        assert_eq!(problem["errors"][0]["field"], "to");
        // If-Match guards transitions too.
        let stale = app
            .client
            .post(format!("{}/v1/follow-ups/{submitted}/transitions", app.base_url))
            .bearer_auth(&token)
            .header("If-Match", "\"1\"")
            .json(&json!({"to": "approved"}));
        planledger_tests::send(stale).await.problem(412);
    }

    async fn a_plan_has_one_open_report_per_period_and_kind(app: TestApp) {
        let token = app.root_token();
        let (plan, _, _) = plan_with_contents(&app).await;
        let annual = |period: &str| json!({"period": period, "kind": "annual"});
        let first = id_of(&write_report(&app, &token, &plan, &annual("2015")).await.created());
        write_report(&app, &token, &plan, &annual("2015")).await.problem(409);
        let interim = id_of(
            &write_report(&app, &token, &plan, &json!({"period": "2015", "kind": "interim"})).await.created(),
        );
        write_report(&app, &token, &plan, &annual("2016")).await.created();
        write_report(&app, &token, &plan, &json!({"period": "2015", "kind": "final"})).await.created();
        // Submitted or returned, the report is still open.
        move_to(&app, &token, &first, "submitted", None).await.ok();
        write_report(&app, &token, &plan, &annual("2015")).await.problem(409);
        move_to(&app, &token, &first, "returned", Some("Ofullständig")).await.ok();
        write_report(&app, &token, &plan, &annual("2015")).await.problem(409);
        // Moving another report onto the same period and kind is the same conflict.
        app.patch(&format!("/v1/follow-ups/{interim}"), Some(&token), &json!({"kind": "annual"}))
            .await
            .problem(409);
        // Once approved, the report is final and a new one may be written.
        move_to(&app, &token, &first, "draft", None).await.ok();
        move_to(&app, &token, &first, "submitted", None).await.ok();
        move_to(&app, &token, &first, "approved", None).await.ok();
        write_report(&app, &token, &plan, &annual("2015")).await.created();
        // Another plan has its own reports.
        let (other, _, _) = plan_with_contents(&app).await;
        write_report(&app, &token, &other, &annual("2015")).await.created();
        let listed = get_json(&app, &format!("/v1/plans/{plan}/follow-ups?kind=annual&period=2015")).await;
        assert_eq!(listed["items"].as_array().map(Vec::len), Some(2));
    }

    async fn only_a_draft_report_can_be_edited(app: TestApp) {
        let token = app.root_token();
        let (plan, goals, _) = plan_with_contents(&app).await;
        for (period, status) in [("2015", "submitted"), ("2016", "approved"), ("2017", "returned")] {
            let report = report_in(&app, &plan, period, status).await;
            let before = get_json(&app, &format!("/v1/follow-ups/{report}")).await;
            let problem = app
                .patch(&format!("/v1/follow-ups/{report}"), Some(&token), &json!({"summary": "Ändrad"}))
                .await
                .problem(409);
            assert_eq!(problem["type"], "/problems/conflict", "{status}");
            assert_eq!(get_json(&app, &format!("/v1/follow-ups/{report}")).await, before);
        }
        let draft = report_in(&app, &plan, "2018", "draft").await;
        let head = app.head_seq().await;
        let body = json!({
            "summary": "Ändrad", "goal_assessments": [{"goal_id": goals[0], "status": "at_risk", "comment": null}]
        });
        let changed = app.patch(&format!("/v1/follow-ups/{draft}"), Some(&token), &body).await;
        assert_eq!(changed.header("etag").as_deref(), Some("\"2\""));
        let changed = changed.ok();
        assert_eq!(changed["summary"], "Ändrad");
        assert_eq!(changed["revision"], 2);
        let events = app.events_after(head).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["type"], "follow_up.updated");
        assert_eq!(events[0]["data"]["changes"], json!(["summary", "goal_assessments"]));
        // The same patch again changes nothing and appends nothing.
        let head = app.head_seq().await;
        app.patch(&format!("/v1/follow-ups/{draft}"), Some(&token), &body).await.ok();
        assert_eq!(app.head_seq().await, head);
        // A stale If-Match is 412.
        let stale = app
            .client
            .patch(format!("{}/v1/follow-ups/{draft}", app.base_url))
            .bearer_auth(&token)
            .header("If-Match", "\"1\"")
            .json(&json!({"summary": "Igen"}));
        planledger_tests::send(stale).await.problem(412);
    }

    async fn a_report_assesses_only_its_plans_goals_and_activities(app: TestApp) {
        let token = app.root_token();
        let (plan, goals, activities) = plan_with_contents(&app).await;
        let (_, foreign_goals, foreign_activities) = plan_with_contents(&app).await;
        let body = json!({
            "period": "2015", "kind": "annual",
            "goal_assessments": [
                {"goal_id": goals[0], "status": "on_track"},
                {"goal_id": goals[1], "status": "at_risk"},
                {"goal_id": foreign_goals[0], "status": "at_risk"}
            ],
            "activity_updates": [{"activity_id": foreign_activities[0], "status": "done"}],
            "measurements": [{"activity_id": activities[0], "value": 12}]
        });
        let problem = write_report(&app, &token, &plan, &body).await.problem(422);
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["field"].as_str().expect("field"))
            .collect();
        assert_eq!(fields, ["goal_assessments[2].goal_id", "activity_updates[0].activity_id"]);
        let bad_status = json!({
            "period": "2015", "kind": "annual",
            "goal_assessments": [{"goal_id": goals[0], "status": "done"}]
        });
        let problem = write_report(&app, &token, &plan, &bad_status).await.problem(422);
        assert_eq!(problem["errors"][0]["field"], "goal_assessments[0].status");
        let bad_activity_status = json!({
            "period": "2015", "kind": "annual",
            "activity_updates": [{"activity_id": activities[0], "status": "at_risk"}]
        });
        let problem = write_report(&app, &token, &plan, &bad_activity_status).await.problem(422);
        assert_eq!(problem["errors"][0]["field"], "activity_updates[0].status");
        let twice = json!({
            "period": "2015", "kind": "annual",
            "goal_assessments": [{"goal_id": goals[0], "status": "on_track"}, {"goal_id": goals[0], "status": "at_risk"}]
        });
        let problem = write_report(&app, &token, &plan, &twice).await.problem(422);
        assert_eq!(problem["errors"][0]["field"], "goal_assessments[1].goal_id");
        for (period, kind) in [("", "annual"), ("femton", "annual")] {
            write_report(&app, &token, &plan, &json!({"period": period, "kind": kind})).await.problem(422);
        }
        let problem = write_report(&app, &token, &plan, &json!({"period": "2015", "kind": "monthly"})).await.problem(422);
        assert_eq!(problem["errors"][0]["field"], "kind");
        // A patch is held to the same rule.
        let report = report_in(&app, &plan, "2015", "draft").await;
        let patch = json!({"activity_updates": [{"activity_id": activities[1], "status": "done"}, {"activity_id": foreign_activities[1], "status": "done"}]});
        let problem = app.patch(&format!("/v1/follow-ups/{report}"), Some(&token), &patch).await.problem(422);
        assert_eq!(problem["errors"][0]["field"], "activity_updates[1].activity_id");
        app.get(&format!("/v1/plans/{plan}/follow-ups"), Some(&token)).await.ok();
        app.get("/v1/follow-ups/not-a-uuid", Some(&token)).await.problem(404);
        app.get(&format!("/v1/follow-ups/{}", uuid::Uuid::now_v7()), Some(&token)).await.problem(404);
    }

    async fn an_illegal_assessment_fails_the_whole_approval(app: TestApp) {
        let token = app.root_token();
        let (plan, goals, activities) = plan_with_contents(&app).await;
        app.patch(&format!("/v1/activities/{}", activities[1]), Some(&token), &json!({"status": "cancelled"}))
            .await
            .ok();
        let body = json!({
            "period": "2015", "kind": "annual",
            "goal_assessments": [{"goal_id": goals[0], "status": "achieved", "comment": "Klart"}],
            "activity_updates": [
                {"activity_id": activities[0], "status": "done"},
                {"activity_id": activities[1], "status": "done"}
            ]
        });
        let report = id_of(&write_report(&app, &token, &plan, &body).await.created());
        move_to(&app, &token, &report, "submitted", None).await.ok();
        let head = app.head_seq().await;
        let problem = move_to(&app, &token, &report, "approved", None).await.problem(409);
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("activity_updates[1]")), "{problem}");
        assert_eq!(app.head_seq().await, head, "nothing appended");
        assert_eq!(get_json(&app, &format!("/v1/follow-ups/{report}")).await["status"], "submitted");
        assert_eq!(get_json(&app, &format!("/v1/goals/{}", goals[0])).await["status"], "not_started");
        assert_eq!(get_json(&app, &format!("/v1/activities/{}", activities[0])).await["status"], "planned");
        assert_eq!(get_json(&app, &format!("/v1/activities/{}", activities[1])).await["status"], "cancelled");
        // Returned and fixed, it goes through.
        move_to(&app, &token, &report, "returned", Some("Aktivitet 2 är inställd")).await.ok();
        move_to(&app, &token, &report, "draft", None).await.ok();
        let fixed = json!({"activity_updates": [{"activity_id": activities[0], "status": "done"}]});
        app.patch(&format!("/v1/follow-ups/{report}"), Some(&token), &fixed).await.ok();
        move_to(&app, &token, &report, "submitted", None).await.ok();
        move_to(&app, &token, &report, "approved", None).await.ok();
        assert_eq!(get_json(&app, &format!("/v1/goals/{}", goals[0])).await["status"], "achieved");
        assert_eq!(get_json(&app, &format!("/v1/activities/{}", activities[0])).await["status"], "done");
    }

    async fn editors_write_and_submit_approvers_decide_and_the_public_sees_approved_reports(app: TestApp) {
        let root = app.root_token();
        let region = app.create_organization("Region Jämtland Härjedalen", "region", None).await;
        let other = app.create_organization("Region Västernorrland", "region", None).await;
        let plan = app.create_plan(&region, "Handlingsplan för jämställdhet").await;
        app.post(
            &format!("/v1/plans/{plan}/transitions"),
            Some(&root),
            &json!({"to": "adopted", "decided_by": "LD", "decided_on": "2014-10-16"}),
        )
        .await
        .ok();
        let reader = token_as("lisa.reader", &region, &[Role::Reader]);
        let editor = token_as("karin.editor", &region, &[Role::Editor]);
        let approver = token_as("per.approver", &region, &[Role::Approver]);
        let outsider = token_as("olle.editor", &other, &[Role::Reader, Role::Editor, Role::Approver]);
        let body = json!({"period": "2015", "kind": "annual"});

        write_report(&app, &reader, &plan, &body).await.problem(403);
        write_report(&app, &approver, &plan, &body).await.problem(403);
        write_report(&app, "not-a-token", &plan, &body).await.problem(401);
        app.post(&format!("/v1/plans/{plan}/follow-ups"), None, &body).await.problem(401);
        write_report(&app, &outsider, &plan, &body).await.problem(403);
        let report = id_of(&write_report(&app, &editor, &plan, &body).await.created());
        let path = format!("/v1/follow-ups/{report}");

        // Drafts are read in scope, hidden outside it and from the public.
        app.get(&path, Some(&reader)).await.ok();
        app.get(&path, None).await.problem(404);
        app.get(&path, Some(&outsider)).await.problem(404);
        let anonymous_list = app.get(&format!("/v1/plans/{plan}/follow-ups"), None).await.ok();
        assert_eq!(anonymous_list["items"], json!([]));
        let reader_list = app.get(&format!("/v1/plans/{plan}/follow-ups"), Some(&reader)).await.ok();
        assert_eq!(reader_list["items"].as_array().map(Vec::len), Some(1));

        app.patch(&path, Some(&approver), &json!({"summary": "Godkänd text"})).await.problem(403);
        app.patch(&path, Some(&reader), &json!({"summary": "Läsarens text"})).await.problem(403);
        app.patch(&path, Some(&outsider), &json!({"summary": "Utifrån"})).await.problem(404);
        app.patch(&path, Some(&editor), &json!({"summary": "Redaktörens text"})).await.ok();

        move_to(&app, &approver, &report, "submitted", None).await.problem(403);
        move_to(&app, &reader, &report, "submitted", None).await.problem(403);
        move_to(&app, &editor, &report, "submitted", None).await.ok();
        app.get(&path, None).await.problem(404);
        move_to(&app, &editor, &report, "returned", Some("Eget")).await.problem(403);
        move_to(&app, &editor, &report, "approved", None).await.problem(403);
        move_to(&app, &approver, &report, "returned", Some("Komplettera")).await.ok();
        move_to(&app, &approver, &report, "draft", None).await.problem(403);
        move_to(&app, &editor, &report, "draft", None).await.ok();
        move_to(&app, &editor, &report, "submitted", None).await.ok();
        move_to(&app, &outsider, &report, "approved", None).await.problem(404);
        move_to(&app, &approver, &report, "approved", None).await.ok();

        // Approved reports of a public plan are public material.
        assert_eq!(app.get(&path, None).await.ok()["status"], "approved");
        assert_eq!(app.get(&path, Some(&outsider)).await.ok()["status"], "approved");
        let anonymous_list = app.get(&format!("/v1/plans/{plan}/follow-ups"), None).await.ok();
        assert_eq!(anonymous_list["items"].as_array().map(Vec::len), Some(1));
        // Reports of a draft plan are never public.
        let draft_plan = app.create_plan(&region, "Utkast").await;
        let hidden = report_in(&app, &draft_plan, "2015", "approved").await;
        app.get(&format!("/v1/follow-ups/{hidden}"), None).await.problem(404);
        app.get(&format!("/v1/plans/{draft_plan}/follow-ups"), None).await.problem(404);
    }
}
