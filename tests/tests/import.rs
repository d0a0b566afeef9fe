//! Bulk import with the real demo data: Region Jämtland Härjedalen's 14
//! plans, 86 goals and 299 activities, untidy as real documents are.

use planledger_tests::{backend_tests, TestApp};
use serde_json::{json, Value};

fn demo() -> Value {
    serde_json::from_str(planledger_api::DEMO_DATA).expect("demo data is JSON")
}

async fn import(app: &TestApp, document: &Value) -> planledger_tests::Reply {
    app.post("/v1/import/plans", Some(&app.root_token()), document).await
}

/// Every plan of the organization, read whole (plan, goals, activities), by diary number and version.
async fn plans_by_key(app: &TestApp, organization: &str) -> std::collections::HashMap<(String, String), Value> {
    let token = app.root_token();
    let list = app
        .get(
            &format!("/v1/plans?organization_id={organization}&limit=500"),
            Some(&token),
        )
        .await
        .ok();
    let mut plans = std::collections::HashMap::new();
    for item in list["items"].as_array().expect("items") {
        let detail = app
            .get(&format!("/v1/plans/{}", item["id"].as_str().expect("id")), Some(&token))
            .await
            .ok();
        let key = (
            detail["diary_number"].as_str().unwrap_or("").to_owned(),
            detail["document_version"].as_str().unwrap_or("").to_owned(),
        );
        plans.insert(key, detail);
    }
    plans
}

fn assert_fields(expected: &Value, actual: &Value, fields: &[&str], context: &str) {
    for field in fields {
        assert_eq!(actual[field], expected[field], "{context}: field {field}");
    }
}

backend_tests! {
    async fn the_demo_plans_read_back_field_by_field(app: TestApp) {
        let file = demo();
        let summary = import(&app, &file).await.ok();
        assert_eq!(summary["plans"], json!({"created": 14, "unchanged": 0}));
        assert_eq!(summary["goals"], json!({"created": 86, "unchanged": 0}));
        assert_eq!(summary["activities"], json!({"created": 299, "unchanged": 0}));
        assert_eq!(summary["organization_created"], true);
        let organization = summary["organization_id"].as_str().expect("organization id");
        let region = app.get(&format!("/v1/organizations/{organization}"), Some(&app.root_token())).await.ok();
        assert_fields(&file["organization"], &region, &["name", "kind", "code"], "organization");

        let stored = plans_by_key(&app, organization).await;
        assert_eq!(stored.len(), 14);
        let (mut goals, mut activities) = (0, 0);
        for plan in file["plans"].as_array().expect("plans") {
            let key = (plan["diary_number"].as_str().unwrap_or("").to_owned(), plan["document_version"].as_str().unwrap_or("").to_owned());
            let context = format!("plan {key:?}");
            let actual = stored.get(&key).unwrap_or_else(|| panic!("{context} was imported"));
            assert_fields(plan, actual, &["title", "diary_number", "document_version", "period_start", "period_end", "owner", "status", "decision", "summary", "background_decisions"], &context);
            let changelog = app.get(&format!("/v1/plans/{}/changelog", actual["id"].as_str().expect("id")), None).await.ok();
            assert_eq!(changelog, plan["changelog"], "{context}: changelog");
            let expected_goals = plan["goals"].as_array().expect("goals");
            let actual_goals = actual["goals"].as_array().expect("goals");
            assert_eq!(actual_goals.len(), expected_goals.len(), "{context}: goal count");
            for (index, (expected_goal, actual_goal)) in expected_goals.iter().zip(actual_goals).enumerate() {
                let context = format!("{context} goal {index}");
                assert_fields(expected_goal, actual_goal, &["number", "title", "reference", "status"], &context);
                let expected_activities = expected_goal["activities"].as_array().expect("activities");
                let actual_activities = actual_goal["activities"].as_array().expect("activities");
                assert_eq!(actual_activities.len(), expected_activities.len(), "{context}: activity count");
                for (index, (expected, actual)) in expected_activities.iter().zip(actual_activities).enumerate() {
                    let fields: Vec<&str> = expected.as_object().expect("activity").keys().map(String::as_str).collect();
                    assert_fields(expected, actual, &fields, &format!("{context} activity {index}"));
                }
                goals += 1;
                activities += actual_activities.len();
            }
        }
        assert_eq!((goals, activities), (86, 299));
    }

    async fn re_importing_the_demo_file_creates_nothing_and_appends_nothing(app: TestApp) {
        import(&app, &demo()).await.ok();
        let head = app.head_seq().await;
        assert_eq!(head, 1 + 14 + 86 + 299, "one event per created resource");
        let again = import(&app, &demo()).await.ok();
        assert_eq!(again["organization_created"], false);
        assert_eq!(again["plans"], json!({"created": 0, "unchanged": 14}));
        assert_eq!(again["goals"], json!({"created": 0, "unchanged": 86}));
        assert_eq!(again["activities"], json!({"created": 0, "unchanged": 299}));
        assert_eq!(app.head_seq().await, head);
    }

    async fn a_broken_file_is_refused_whole_with_every_error_by_path(app: TestApp) {
        let mut file = demo();
        file["plans"][3]["goals"][0]["title"] = Value::Null;
        file["plans"][5]["period_start"] = json!("2015-13-01");
        file["plans"][7]["goals"][1]["activities"][2]["status"] = json!("klar");
        let problem = import(&app, &file).await.problem(422);
        let fields: Vec<&str> = problem["errors"].as_array().expect("errors").iter().map(|e| e["field"].as_str().expect("field")).collect();
        assert_eq!(fields, ["plans[3].goals[0].title", "plans[5].period_start", "plans[7].goals[1].activities[2].status"]);
        assert_eq!(app.head_seq().await, 0, "nothing of the file was written");
        let list = app.get("/v1/plans", Some(&app.root_token())).await.ok();
        assert_eq!(list["items"], json!([]));
    }

    async fn untidy_but_real_records_are_taken(app: TestApp) {
        let file = json!({
            "organization": {"name": "Krokoms kommun", "kind": "municipality", "code": "2309"},
            "plans": [
                {"title": "Plan utan diarienummer", "diary_number": null, "document_version": null, "period_start": null,
                 "period_end": null, "owner": null, "status": "under_revision",
                 "decision": {"decided_by": null, "decided_on": null, "note": "Omarbetning pågår"},
                 "summary": null, "background_decisions": null, "changelog": null, "goals": null},
                {"title": "Plan med mål utan aktiviteter", "goals": [{"title": "Mål", "number": null, "reference": null, "status": null, "activities": []}]}
            ]
        });
        let summary = import(&app, &file).await.ok();
        assert_eq!(summary["plans"]["created"], 2);
        let again = import(&app, &file).await.ok();
        assert_eq!(again["plans"], json!({"created": 0, "unchanged": 2}), "plans without diary number match by title");
    }

    async fn importing_needs_an_editor_and_a_new_organization_needs_the_root_admin(app: TestApp) {
        let file = demo();
        app.post("/v1/import/plans", None, &file).await.problem(401);
        let region = app.create_organization("Region Jämtland Härjedalen", "region", None).await;
        let mut with_code = file.clone();
        with_code["organization"]["code"] = json!("23");
        app.patch(&format!("/v1/organizations/{region}"), Some(&app.root_token()), &json!({"code": "23"})).await.ok();
        let reader = app.token(&region, &[planledger_domain::permissions::Role::Reader]);
        app.post("/v1/import/plans", Some(&reader), &with_code).await.problem(403);
        let editor = app.token(&region, &[planledger_domain::permissions::Role::Editor]);
        let summary = app.post("/v1/import/plans", Some(&editor), &with_code).await.ok();
        assert_eq!(summary["organization_id"].as_str(), Some(region.as_str()));
        let mut elsewhere = file;
        elsewhere["organization"] = json!({"name": "Region Västernorrland", "kind": "region", "code": "22"});
        app.post("/v1/import/plans", Some(&editor), &elsewhere).await.problem(403);
    }

    async fn an_export_imported_into_an_empty_installation_gives_the_same_plans(app: TestApp) {
        let summary = import(&app, &demo()).await.ok();
        let organization = summary["organization_id"].as_str().expect("id").to_owned();
        let export = app.get(&format!("/v1/export/plans?organization_id={organization}"), Some(&app.root_token())).await.ok();
        assert_eq!(export["plans"].as_array().expect("plans").len(), 14);

        let empty = TestApp::spawn(app.backend).expect("a second installation");
        let again = import(&empty, &export).await.ok();
        assert_eq!(again["plans"], json!({"created": 14, "unchanged": 0}));
        assert_eq!(again["goals"], json!({"created": 86, "unchanged": 0}));
        assert_eq!(again["activities"], json!({"created": 299, "unchanged": 0}));
        let original = plans_by_key(&app, &organization).await;
        let copied = plans_by_key(&empty, again["organization_id"].as_str().expect("id")).await;
        assert_eq!(copied.len(), original.len());
        // Everything but what each installation makes itself: ids, times, revisions.
        fn comparable(value: &Value) -> Value {
            match value {
                Value::Object(map) => Value::Object(
                    map.iter()
                        .filter(|(key, _)| {
                            !matches!(key.as_str(), "id" | "organization_id" | "plan_id" | "goal_id" | "created_at" | "updated_at" | "revision")
                        })
                        .map(|(key, value)| (key.clone(), comparable(value)))
                        .collect(),
                ),
                Value::Array(items) => Value::Array(items.iter().map(comparable).collect()),
                other => other.clone(),
            }
        }
        for (key, plan) in &original {
            assert_eq!(comparable(&copied[key]), comparable(plan), "plan {key:?}");
        }
        // And the export of the copy is the export of the original.
        let organization_copy = again["organization_id"].as_str().expect("id");
        let second = empty.get(&format!("/v1/export/plans?organization_id={organization_copy}"), Some(&empty.root_token())).await.ok();
        assert_eq!(second, export);
    }
}
