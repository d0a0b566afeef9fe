//! Inputs at the edges never reach the database as a 5xx, concurrent
//! decisions on one plan cannot both win, references never reveal what the
//! caller may not see, and `as_of` rebuilds a plan as it stood.

use planledger_domain::permissions::Role;
use planledger_tests::{backend_tests, TestApp};
use serde_json::{json, Value};

async fn transition(app: &TestApp, plan: &str, body: &Value, if_match: Option<&str>) -> planledger_tests::Reply {
    let mut request = app
        .client
        .post(format!("{}/v1/plans/{plan}/transitions", app.base_url))
        .bearer_auth(app.root_token())
        .json(body);
    if let Some(tag) = if_match {
        request = request.header("If-Match", tag);
    }
    planledger_tests::send(request).await
}

backend_tests! {
    async fn concurrent_decisions_with_the_same_if_match_cannot_both_win(app: TestApp) {
        let region = app.create_organization("Region", "region", None).await;
        for round in 0..5 {
            let plan = app.create_plan(&region, &format!("Plan {round}")).await;
            let before = app.head_seq().await;
            let adopt = json!({"to": "adopted", "decided_by": "LD", "decided_on": "2026-01-01"});
            let withdraw = json!({"to": "withdrawn", "reason": "Ersatt"});
            let (first, second) = tokio::join!(
                transition(&app, &plan, &adopt, Some("\"1\"")),
                transition(&app, &plan, &withdraw, Some("\"1\""))
            );
            let mut statuses = [first.status.as_u16(), second.status.as_u16()];
            statuses.sort_unstable();
            assert_eq!(statuses, [200, 412], "exactly one decision wins: {} / {}", first.text, second.text);
            assert_eq!(app.head_seq().await, before + 1, "one status_changed event");
        }
    }

    async fn concurrent_writes_from_two_processes_keep_each_plan_s_checks_and_a_gap_free_chain(app: TestApp) {
        let other = app.another_process();
        let region = app.create_organization("Region", "region", None).await;
        let (busy, contested) = (app.create_plan(&region, "Plan A").await, app.create_plan(&region, "Plan B").await);
        let goal = app
            .post(&format!("/v1/plans/{contested}/goals"), Some(&app.root_token()), &json!({"number": "1", "title": "Mål"}))
            .await
            .created();
        let goal_path = format!("/v1/goals/{}", goal["id"].as_str().expect("goal id"));
        let before = app.head_seq().await;

        // Sixteen new goals under one plan, half through each process: each takes the next
        // position. Eight PATCHes of one goal with the same If-Match: exactly one wins.
        let creates = (0..16).map(|n| {
            let server = if n % 2 == 0 { &app } else { &other };
            let body = json!({"number": format!("{}", n + 1), "title": format!("Mål {n}")});
            let path = format!("/v1/plans/{busy}/goals");
            async move { server.post(&path, Some(&server.root_token()), &body).await }
        });
        let patches = (0..8).map(|n| {
            let server = if n % 2 == 0 { &app } else { &other };
            let request = server
                .client
                .patch(format!("{}{goal_path}", server.base_url))
                .bearer_auth(server.root_token())
                .header("If-Match", "\"1\"")
                .json(&json!({"title": format!("Mål, version {n}")}));
            planledger_tests::send(request)
        });
        let (created, patched) = tokio::join!(futures::future::join_all(creates), futures::future::join_all(patches));

        assert!(created.iter().all(|reply| reply.status == 201), "every goal is created");
        let mut patch_statuses: Vec<u16> = patched.iter().map(|reply| reply.status.as_u16()).collect();
        patch_statuses.sort_unstable();
        assert_eq!(patch_statuses, [200, 412, 412, 412, 412, 412, 412, 412]);
        let listed = app.get(&format!("/v1/plans/{busy}/goals?limit=100"), Some(&app.root_token())).await.ok();
        let titles: std::collections::BTreeSet<&str> =
            listed["items"].as_array().expect("items").iter().filter_map(|goal| goal["title"].as_str()).collect();
        assert_eq!(titles.len(), 16, "sixteen goals, none lost: {listed}");

        let verification = app.get("/v1/events/verify", Some(&app.root_token())).await.ok();
        assert_eq!(verification["ok"], true, "{verification}");
        assert_eq!(verification["head_seq"], before + 17, "one event per created goal and one for the PATCH");
        let seqs: Vec<i64> = app.events_after(before).await.iter().filter_map(|event| event["seq"].as_i64()).collect();
        assert_eq!(seqs, (before + 1..=before + 17).collect::<Vec<_>>(), "gap-free, in order");
    }

    async fn nul_characters_are_refused_before_the_database(app: TestApp) {
        let token = app.root_token();
        let region = app.create_organization("Region", "region", None).await;
        let before = app.head_seq().await;
        let body = json!({"organization_id": region, "title": "Plan\u{0}"});
        let problem = app.post("/v1/plans", Some(&token), &body).await.problem(422);
        assert_eq!(problem["errors"][0]["field"], "title");
        let nested = json!({"organization_id": region, "title": "Plan", "perspectives": {"children": "a\u{0}b"}});
        let problem = app.post("/v1/plans", Some(&token), &nested).await.problem(422);
        assert_eq!(problem["errors"][0]["field"], "perspectives.children");
        app.get("/v1/plans?q=%00", None).await.problem(400);
        app.get("/v1/organizations?code=%00", Some(&token)).await.problem(400);
        app.get("/v1/plans?cursor=YWZ0ZXI6AA", None).await.problem(400);
        assert_eq!(app.head_seq().await, before);
    }

    async fn dates_outside_four_digit_years_are_refused(app: TestApp) {
        let token = app.root_token();
        let region = app.create_organization("Region", "region", None).await;
        for date in ["-5000-01-01", "+10000-01-01", "0999-12-31"] {
            let body = json!({"organization_id": region, "title": "Plan", "period_start": date});
            let reply = app.post("/v1/plans", Some(&token), &body).await;
            assert!(matches!(reply.status.as_u16(), 422), "{date}: {} {}", reply.status, reply.text);
        }
        app.get("/v1/plans?updated_since=-5000-01-01T00:00:00Z", None).await.problem(400);
        let plan = app.create_plan(&region, "Plan").await;
        let early = json!({"to": "adopted", "decided_by": "LD", "decided_on": "0500-01-01"});
        let problem = transition(&app, &plan, &early, None).await.problem(422);
        assert_eq!(problem["errors"][0]["field"], "decided_on");
    }

    async fn a_hidden_plan_cannot_be_named_as_successor(app: TestApp) {
        let region = app.create_organization("Region", "region", None).await;
        let own = app.create_organization("Krokoms kommun", "municipality", Some(&region)).await;
        let other = app.create_organization("Bergs kommun", "municipality", Some(&region)).await;
        let hidden_draft = app.create_plan(&other, "Utkast").await;
        let plan = app.create_plan(&own, "Plan").await;
        let approver = app.token(&own, &[Role::Reader, Role::Approver]);
        let adopt = json!({"to": "adopted", "decided_by": "KS", "decided_on": "2026-01-01"});
        app.post(&format!("/v1/plans/{plan}/transitions"), Some(&approver), &adopt).await.ok();
        let supersede = json!({"to": "superseded", "superseded_by": hidden_draft});
        let problem = app.post(&format!("/v1/plans/{plan}/transitions"), Some(&approver), &supersede).await.problem(422);
        assert_eq!(problem["errors"][0]["field"], "superseded_by");
        let unknown = json!({"to": "superseded", "superseded_by": "0190a6b2-0000-7000-8000-000000000001"});
        let same = app.post(&format!("/v1/plans/{plan}/transitions"), Some(&approver), &unknown).await.problem(422);
        assert_eq!(same["errors"], problem["errors"], "a hidden plan answers as an unknown one");
    }

    async fn as_of_shows_the_plan_before_and_after_each_transition(app: TestApp) {
        let token = app.root_token();
        let region = app.create_organization("Region", "region", None).await;
        let plan = app.create_plan(&region, "Plan").await;
        let goal = app.post(&format!("/v1/plans/{plan}/goals"), Some(&token), &json!({"title": "Mål"})).await.created();
        let goal_id = goal["id"].as_str().expect("id").to_owned();
        let activity = json!({"title": "Aktivitet"});
        let activity = app.post(&format!("/v1/goals/{goal_id}/activities"), Some(&token), &activity).await.created();
        let activity_id = activity["id"].as_str().expect("id").to_owned();
        let steps: Vec<Value> = vec![
            json!({"to": "adopted", "decided_by": "LD", "decided_on": "2016-01-01"}),
            json!({"to": "under_revision", "reason": "Ny lag"}),
            json!({"to": "adopted", "decided_by": "LD", "decided_on": "2016-06-01", "document_version": "2", "change": "Reviderad"}),
            json!({"to": "closed", "reason": "Klar"}),
        ];
        let mut instants = Vec::new();
        for (index, step) in steps.iter().enumerate() {
            if index == 1 {
                let done = json!({"status": "done"});
                app.patch(&format!("/v1/activities/{activity_id}"), Some(&token), &done).await.ok();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            instants.push(chrono::Utc::now());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            app.post(&format!("/v1/plans/{plan}/transitions"), Some(&token), step).await.ok();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        instants.push(chrono::Utc::now());
        // The activity is done after the first transition and before the second.
        let expected = [
            ("draft", "planned"),
            ("adopted", "done"),
            ("under_revision", "done"),
            ("adopted", "done"),
            ("closed", "done"),
        ];
        for (instant, (status, activity_status)) in instants.iter().zip(expected) {
            let as_of = instant.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            let past = app.get(&format!("/v1/plans/{plan}?as_of={as_of}"), Some(&token)).await.ok();
            assert_eq!(past["status"], status, "as_of {as_of}");
            assert_eq!(past["goals"][0]["id"].as_str(), Some(goal_id.as_str()));
            assert_eq!(past["goals"][0]["activities"][0]["status"], activity_status, "activity as_of {as_of}");
        }
        let first = instants[0].to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        // Public now, but a draft then: the past draft is not shown without a token.
        app.get(&format!("/v1/plans/{plan}?as_of={first}"), None).await.problem(404);
        let before_creation = "2000-01-01T00:00:00Z";
        app.get(&format!("/v1/plans/{plan}?as_of={before_creation}"), Some(&token)).await.problem(404);
    }
}

mod nesting {
    use planledger_tests::backend_tests;

    backend_tests! {
        async fn bodies_nested_too_deep_are_422(app: TestApp) {
            let token = app.root_token();
            let before = app.head_seq().await;
            for levels in [40, 200] {
                let body = format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
                let reply = app
                    .client
                    .post(format!("{}/v1/import/plans", app.base_url))
                    .bearer_auth(&token)
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("sent");
                assert_eq!(reply.status().as_u16(), 422, "{levels} levels");
            }
            assert_eq!(app.head_seq().await, before);
        }
    }
}

mod methods {
    use planledger_tests::{backend_tests, send};

    backend_tests! {
        async fn a_method_a_path_does_not_take_is_405_with_allow(app: TestApp) {
            let reply = send(app.client.put(format!("{}/v1/plans", app.base_url)).bearer_auth(app.root_token())).await;
            reply.problem(405);
            assert_eq!(reply.header("allow").as_deref(), Some("GET, POST"));
            let one = format!("{}/v1/organizations/00000000-0000-0000-0000-000000000000", app.base_url);
            let reply = send(app.client.delete(one).bearer_auth(app.root_token())).await;
            assert_eq!(reply.header("allow").as_deref(), Some("GET, PATCH"));
            send(app.client.put(format!("{}/v1/nowhere", app.base_url)).bearer_auth(app.root_token())).await.problem(404);
        }

        async fn an_anonymous_write_is_401_before_its_body_is_read(app: TestApp) {
            let reply = send(app.client.post(format!("{}/v1/plans", app.base_url)).body("{not json")).await;
            reply.problem(401);
            let reply = send(app.client.patch(format!("{}/v1/plans/not-an-id", app.base_url))).await;
            reply.problem(401);
        }
    }
}
