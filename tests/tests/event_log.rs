//! The event log's guarantees: one event per change in the same transaction,
//! gap-free seq under concurrent writers, nothing written by a failed write,
//! append-only rows, and a hash chain anyone can recompute.

use planledger_tests::{backend_tests, TestApp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const WRITERS: usize = 8;
const CHANGES_PER_WRITER: usize = 50;

/// Sets up a plan with one goal and `activities` activities; answers (plan id, activity ids).
async fn plan_with_activities(app: &TestApp, activities: usize) -> (String, Vec<String>) {
    let token = app.root_token();
    let region = app
        .create_organization("Region Jämtland Härjedalen", "region", None)
        .await;
    let plan = app.create_plan(&region, "Övergripande handlingsplan").await;
    let goal = app
        .post(
            &format!("/v1/plans/{plan}/goals"),
            Some(&token),
            &json!({"title": "Mål 1"}),
        )
        .await
        .created();
    let goal_id = goal["id"].as_str().expect("goal id");
    let mut ids = Vec::new();
    for n in 0..activities {
        let body = json!({"title": format!("Aktivitet {n}")});
        let activity = app
            .post(&format!("/v1/goals/{goal_id}/activities"), Some(&token), &body)
            .await
            .created();
        ids.push(activity["id"].as_str().expect("activity id").to_owned());
    }
    (plan, ids)
}

/// The documented canonical JSON: keys sorted at every level, no white space.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|key| format!("{}:{}", Value::String(key.clone()), canonical(&map[key])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        scalar => scalar.to_string(),
    }
}

fn recomputed_hash(event: &Value) -> String {
    let mut body = event.clone();
    let map = body.as_object_mut().expect("event object");
    map.remove("hash");
    let prev_hash = map.remove("prev_hash").expect("prev_hash");
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_str().expect("text").as_bytes());
    hasher.update(canonical(&body).as_bytes());
    hex::encode(hasher.finalize())
}

backend_tests! {
    async fn concurrent_writers_give_exactly_one_gap_free_event_per_change(app: TestApp) {
        let (_, activities) = plan_with_activities(&app, WRITERS).await;
        let before = app.head_seq().await;
        let app = std::sync::Arc::new(app);
        let mut writers = Vec::new();
        for activity in activities.clone() {
            let app = app.clone();
            writers.push(tokio::spawn(async move {
                let token = app.root_token();
                for change in 0..CHANGES_PER_WRITER {
                    let body = json!({"comment": format!("Ändring {change}")});
                    app.patch(&format!("/v1/activities/{activity}"), Some(&token), &body).await.ok();
                }
            }));
        }
        for writer in writers {
            writer.await.expect("writer finished");
        }
        let events = app.events_after(before).await;
        assert_eq!(events.len(), WRITERS * CHANGES_PER_WRITER);
        for (offset, event) in events.iter().enumerate() {
            assert_eq!(event["seq"].as_i64(), Some(before + 1 + offset as i64), "seq is gap-free");
            assert_eq!(event["type"], "activity.updated");
        }
        for activity in &activities {
            let read = app.get(&format!("/v1/activities/{activity}"), None).await;
            assert_eq!(read.status.as_u16(), 404, "the plan is a draft: not public");
            let read = app.get(&format!("/v1/activities/{activity}"), Some(&app.root_token())).await.ok();
            assert_eq!(read["revision"].as_i64(), Some(1 + CHANGES_PER_WRITER as i64));
        }
        let verification = app.get("/v1/events/verify", Some(&app.root_token())).await.ok();
        assert_eq!(verification["ok"], true);
        assert_eq!(verification["head_seq"].as_i64(), Some(before + (WRITERS * CHANGES_PER_WRITER) as i64));
    }

    async fn a_failed_write_leaves_no_event_and_no_change(app: TestApp) {
        let token = app.root_token();
        let region = app.create_organization("Region", "region", None).await;
        let plan = app.create_plan(&region, "Plan").await;
        let before_plan = app.get(&format!("/v1/plans/{plan}"), Some(&token)).await.ok();
        let before = app.head_seq().await;

        let invalid_period = json!({"title": "Ny titel", "period_end": "2020-01-01"});
        app.patch(&format!("/v1/plans/{plan}"), Some(&token), &invalid_period).await.problem(422);
        let illegal = json!({"to": "closed", "reason": "Klar"});
        app.post(&format!("/v1/plans/{plan}/transitions"), Some(&token), &illegal).await.problem(409);
        let unknown_successor = json!({"to": "adopted", "decided_by": "LD", "decided_on": "2026-01-01"});
        app.post(&format!("/v1/plans/{plan}/transitions"), Some(&token), &unknown_successor).await.ok();
        let after_adopt = app.head_seq().await;
        assert_eq!(after_adopt, before + 1);
        let supersede_unknown = json!({"to": "superseded", "superseded_by": "0190a6b2-0000-7000-8000-000000000001"});
        app.post(&format!("/v1/plans/{plan}/transitions"), Some(&token), &supersede_unknown).await.problem(422);

        assert_eq!(app.head_seq().await, after_adopt, "no event from a failed write");
        let after_plan = app.get(&format!("/v1/plans/{plan}"), Some(&token)).await.ok();
        assert_eq!(after_plan["title"], before_plan["title"]);
        assert_eq!(after_plan["period_end"], before_plan["period_end"]);
        assert_eq!(after_plan["status"], "adopted");
        assert_eq!(after_plan["superseded_by"], Value::Null);
        assert_eq!(after_plan["revision"].as_i64(), Some(before_plan["revision"].as_i64().expect("revision") + 1));
    }

    async fn event_rows_cannot_be_updated_or_deleted(app: TestApp) {
        app.create_organization("Region", "region", None).await;
        assert!(app.head_seq().await >= 1);
        let update = app.execute_sql("UPDATE events SET event_type = 'plan.deleted' WHERE seq = 1");
        assert!(update.as_ref().is_err_and(|e| e.contains("append-only")), "update refused: {update:?}");
        let delete = app.execute_sql("DELETE FROM events WHERE seq = 1");
        assert!(delete.as_ref().is_err_and(|e| e.contains("append-only")), "delete refused: {delete:?}");
        assert_eq!(app.get("/v1/events/verify", Some(&app.root_token())).await.ok()["ok"], true);
    }

    async fn the_hash_chain_recomputes_from_the_documented_canonical_json(app: TestApp) {
        let (plan, _) = plan_with_activities(&app, 2).await;
        let transition = json!({"to": "adopted", "decided_by": "Regiondirektören (LD)", "decided_on": "2014-10-16"});
        app.post(&format!("/v1/plans/{plan}/transitions"), Some(&app.root_token()), &transition).await.ok();
        let events = app.events_after(0).await;
        assert!(events.len() >= 5);
        let mut previous = "0".repeat(64);
        for event in &events {
            assert_eq!(event["prev_hash"].as_str(), Some(previous.as_str()), "prev_hash links to the event before");
            assert_eq!(event["hash"].as_str(), Some(recomputed_hash(event).as_str()), "hash of seq {}", event["seq"]);
            previous = event["hash"].as_str().expect("hash").to_owned();
        }
    }

    async fn verify_names_the_first_edited_event(app: TestApp) {
        plan_with_activities(&app, 3).await;
        let drop_trigger = match app.backend {
            planledger_tests::Backend::Sqlite => "DROP TRIGGER events_no_update",
            planledger_tests::Backend::Postgres => "DROP TRIGGER events_no_update ON events",
        };
        app.execute_sql(drop_trigger).expect("drop the trigger for the test");
        app.execute_sql("UPDATE events SET data = '{\"snapshot\":{\"title\":\"Förfalskad\"}}' WHERE seq = 4")
            .expect("edit an event behind the service's back");
        let verification = app.get("/v1/events/verify", Some(&app.root_token())).await.ok();
        assert_eq!(verification["ok"], false);
        assert_eq!(verification["first_broken_seq"].as_i64(), Some(4));
        assert_eq!(verification["checked"].as_i64(), Some(3));
    }

    async fn every_change_appends_its_event_in_order(app: TestApp) {
        let before = app.head_seq().await;
        let (plan, activities) = plan_with_activities(&app, 1).await;
        let token = app.root_token();
        app.patch(&format!("/v1/plans/{plan}"), Some(&token), &json!({"owner": "Regiondirektör"})).await.ok();
        let status = json!({"status": "in_progress", "reason": "Startad"});
        app.patch(&format!("/v1/activities/{}", activities[0]), Some(&token), &status).await.ok();
        let types: Vec<String> =
            app.events_after(before).await.iter().map(|e| e["type"].as_str().expect("type").to_owned()).collect();
        assert_eq!(
            types,
            [
                "organization.created",
                "plan.created",
                "goal.created",
                "activity.created",
                "plan.updated",
                "activity.status_changed",
            ]
        );
        let events = app.events_after(before).await;
        let status_changed = events.last().expect("event");
        assert_eq!(status_changed["data"]["from"], "planned");
        assert_eq!(status_changed["data"]["to"], "in_progress");
        assert_eq!(status_changed["data"]["reason"], "Startad");
        assert_eq!(status_changed["actor"]["sub"], "test-user");
        assert_eq!(events[4]["data"]["changes"], json!(["owner"]));
    }
}
