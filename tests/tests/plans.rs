//! Plans over real HTTP: the status machine of API.md's transition table, the
//! required fields of each transition, goals and activities with their
//! progress and status changes, final plans, `If-Match`, the plan's history,
//! the plan list's filters and paging, and the basics of authorization.

use planledger_domain::ids::ROOT_ORGANIZATION_ID;
use planledger_domain::permissions::Role;
use planledger_tests::{backend_tests, Reply, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Every plan status, in API.md's order.
const STATUSES: [&str; 6] = [
    "draft",
    "adopted",
    "under_revision",
    "withdrawn",
    "closed",
    "superseded",
];

/// The legal targets of `from`, in the order of API.md's transition table.
fn legal_targets(from: &str) -> Vec<&'static str> {
    match from {
        "draft" => vec!["adopted", "withdrawn"],
        "adopted" => vec!["under_revision", "closed", "superseded"],
        "under_revision" => vec!["adopted", "closed", "superseded"],
        "withdrawn" | "closed" | "superseded" => vec![],
        other => panic!("unknown plan status {other}"),
    }
}

fn adopt() -> Value {
    json!({"to": "adopted", "decided_by": "LD", "decided_on": "2014-10-16"})
}

fn with_reason(to: &str) -> Value {
    json!({"to": to, "reason": "Beslut i landstingsstyrelsen"})
}

fn supersede(successor: &str) -> Value {
    json!({"to": "superseded", "superseded_by": successor})
}

/// A transition request carrying every field any transition needs.
fn complete(to: &str, successor: &str) -> Value {
    json!({
        "to": to, "decided_by": "LD", "decided_on": "2014-10-16", "reason": "Ny lagstiftning",
        "document_version": "2", "change": "Översyn av målformuleringar", "superseded_by": successor
    })
}

async fn transition(app: &TestApp, plan: &str, body: &Value) -> Reply {
    app.post(&format!("/v1/plans/{plan}/transitions"), Some(&app.root_token()), body)
        .await
}

async fn get_plan(app: &TestApp, plan: &str) -> Value {
    app.get(&format!("/v1/plans/{plan}"), Some(&app.root_token()))
        .await
        .ok()
}

fn revision(resource: &Value) -> i64 {
    resource["revision"]
        .as_i64()
        .unwrap_or_else(|| panic!("revision in {resource}"))
}

fn id_of(resource: &Value) -> String {
    resource["id"]
        .as_str()
        .unwrap_or_else(|| panic!("id in {resource}"))
        .to_owned()
}

/// Creates a draft plan with its own period and document version.
async fn new_plan(app: &TestApp, organization: &str, title: &str, start: &str, end: Option<&str>) -> String {
    let body = json!({
        "organization_id": organization, "title": title, "diary_number": "LS/1301/2014",
        "document_version": "1", "period_start": start, "period_end": end
    });
    id_of(&app.post("/v1/plans", Some(&app.root_token()), &body).await.created())
}

/// Creates a plan of the root organization and moves it, by legal transitions, to `status`.
async fn plan_in(app: &TestApp, status: &str) -> String {
    let steps = match status {
        "draft" => vec![],
        "adopted" => vec![adopt()],
        "under_revision" => vec![adopt(), with_reason("under_revision")],
        "withdrawn" => vec![with_reason("withdrawn")],
        "closed" => vec![adopt(), with_reason("closed")],
        "superseded" => {
            let successor = app.create_plan(ROOT_ORGANIZATION_ID, "Ersättande handlingsplan").await;
            vec![adopt(), supersede(&successor)]
        }
        other => panic!("unknown plan status {other}"),
    };
    let plan = new_plan(
        app,
        ROOT_ORGANIZATION_ID,
        &format!("Handlingsplan ({status})"),
        "2015-01-01",
        None,
    )
    .await;
    for step in steps {
        transition(app, &plan, &step).await.ok();
    }
    assert_eq!(get_plan(app, &plan).await["status"], status);
    plan
}

/// Runs a legal transition and checks the answer, the ETag, the stored plan and its one event.
async fn assert_legal_transition(app: &TestApp, plan: &str, body: &Value, from: &str, to: &str) -> Value {
    let before = get_plan(app, plan).await;
    assert_eq!(before["status"], from);
    let head = app.head_seq().await;

    let reply = transition(app, plan, body).await;
    let after = reply.ok();
    assert_eq!(after["id"], plan);
    assert_eq!(after["status"], to, "{from} → {to}");
    assert_eq!(
        revision(&after),
        revision(&before) + 1,
        "{from} → {to} counts one revision"
    );
    assert_eq!(
        reply.header("etag"),
        Some(format!("\"{}\"", revision(&after))),
        "the ETag is the new revision"
    );

    let stored = get_plan(app, plan).await;
    assert_eq!(stored["status"], to);
    assert_eq!(revision(&stored), revision(&after));

    let events = app.events_after(head).await;
    assert_eq!(events.len(), 1, "{from} → {to} appends exactly one event: {events:#?}");
    let event = &events[0];
    assert_eq!(event["type"], "plan.status_changed");
    assert_eq!(event["subject"]["type"], "plan");
    assert_eq!(event["subject"]["id"], plan);
    assert_eq!(event["data"]["from"], from);
    assert_eq!(event["data"]["to"], to);
    assert_eq!(event["data"]["reason"], body["reason"], "the event keeps the reason");
    after
}

fn field_names(problem: &Value) -> BTreeSet<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("errors in {problem}"))
        .iter()
        .map(|error| {
            error["field"]
                .as_str()
                .unwrap_or_else(|| panic!("field in {error}"))
                .to_owned()
        })
        .collect()
}

/// Checks that a transition is refused with 422 naming exactly `fields`, and changes nothing.
async fn assert_refused_naming(app: &TestApp, plan: &str, body: &Value, fields: &[&str]) {
    let before = get_plan(app, plan).await;
    let head = app.head_seq().await;
    let problem = transition(app, plan, body).await.problem(422);
    assert_eq!(problem["type"], "/problems/validation", "{body}");
    let expected: BTreeSet<String> = fields.iter().map(|field| (*field).to_owned()).collect();
    assert_eq!(field_names(&problem), expected, "fields named for {body}");
    assert_eq!(
        app.head_seq().await,
        head,
        "a refused transition appends no event: {body}"
    );
    let after = get_plan(app, plan).await;
    assert_eq!(after["status"], before["status"]);
    assert_eq!(
        revision(&after),
        revision(&before),
        "a refused transition changes no revision: {body}"
    );
}

/// A request with an `If-Match` header, read into a [`Reply`].
async fn send_if_match(app: &TestApp, method: Method, path: &str, if_match: &str, body: &Value) -> Reply {
    let response = app
        .client
        .request(method, format!("{}{path}", app.base_url))
        .bearer_auth(app.root_token())
        .header("If-Match", if_match)
        .json(body)
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    Reply { status, headers, text }
}

/// Percent-encodes a query value (UTF-8), so Swedish letters travel as the standard says.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The ids of every plan the list answers for `query`, walking all pages.
async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/v1/plans?{query}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={}", encode(cursor)));
        }
        let page = app.get(&path, Some(&app.root_token())).await.ok();
        ids.extend(page["items"].as_array().expect("items").iter().map(id_of));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => {
                assert!(page["next_cursor"].is_null(), "next_cursor is a string or null: {page}");
                return ids;
            }
        }
    }
    panic!("the list of {query} never ended");
}

fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|id| (*id).clone()).collect()
}

fn as_set(ids: Vec<String>) -> BTreeSet<String> {
    ids.into_iter().collect()
}

async fn create_goal(app: &TestApp, plan: &str, number: &str, title: &str) -> Value {
    let body = json!({"number": number, "title": title, "reference": "Artikel 14 CEMR-deklarationen"});
    app.post(&format!("/v1/plans/{plan}/goals"), Some(&app.root_token()), &body)
        .await
        .created()
}

async fn create_activity(app: &TestApp, goal: &str, title: &str) -> Value {
    let body = json!({"title": title, "target_group": "Medarbetare och chefer", "measure": "Inrättad grupp"});
    app.post(&format!("/v1/goals/{goal}/activities"), Some(&app.root_token()), &body)
        .await
        .created()
}

async fn history_page(app: &TestApp, plan: &str, query: &str) -> Value {
    app.get(&format!("/v1/plans/{plan}/history?{query}"), Some(&app.root_token()))
        .await
        .ok()
}

backend_tests! {
    async fn a_plan_read_comes_from_its_kept_document_only_while_nothing_under_the_plan_changed(app: TestApp) {
        let plan = plan_in(&app, "adopted").await;
        let goal = create_goal(&app, &plan, "1", "Minskad tobaksanvändning").await;
        let activity = create_activity(&app, &id_of(&goal), "Tobaksfri skoltid").await;
        let path = format!("/v1/plans/{plan}");
        let first = app.get(&path, None).await;
        let (first_body, first_tag) = (first.ok(), first.header("etag").expect("an ETag"));

        // The kept copy is what the next read answers, as long as its seq is the plan's last event.
        let marked = r#"{"kept":"copy"}"#;
        app.execute_sql(&format!("UPDATE plan_documents SET body = '{marked}' WHERE plan_id = '{plan}'"))
            .expect("the read kept the plan's document");
        let second = app.get(&path, None).await;
        assert_eq!(second.json(), json!({"kept": "copy"}));
        assert_eq!(second.header("etag").as_deref(), Some(first_tag.as_str()));

        // A change under the plan, made by another process, outdates the copy at once.
        let other = app.another_process();
        let patch = json!({"status": "in_progress"});
        other
            .patch(&format!("/v1/activities/{}", id_of(&activity)), Some(&other.root_token()), &patch)
            .await
            .ok();
        let third = app.get(&path, None).await;
        let third_body = third.ok();
        assert_eq!(third_body["goals"][0]["activities"][0]["status"], "in_progress");
        assert_ne!(third.header("etag"), Some(first_tag));
        assert_eq!(third_body["title"], first_body["title"]);

        // A copy kept for an older event, or by a build that answers other JSON, is never answered.
        app.execute_sql(&format!(
            "UPDATE plan_documents SET body = '{marked}', seq = seq - 1 WHERE plan_id = '{plan}'"
        ))
        .expect("the third read kept the new document");
        assert_eq!(app.get(&path, None).await.ok(), third_body);
        app.execute_sql(&format!(
            "UPDATE plan_documents SET body = '{marked}', format = 'another build' WHERE plan_id = '{plan}'"
        ))
        .expect("the fourth read kept the document again");
        assert_eq!(app.get(&path, None).await.ok(), third_body);
    }

    async fn draft_plan_is_adopted_with_its_decision(app: TestApp) {
        let plan = plan_in(&app, "draft").await;
        let body = json!({"to": "adopted", "decided_by": "LD", "decided_on": "2014-10-16", "note": "§ 123"});
        let adopted = assert_legal_transition(&app, &plan, &body, "draft", "adopted").await;
        assert_eq!(adopted["decision"]["decided_by"], "LD");
        assert_eq!(adopted["decision"]["decided_on"], "2014-10-16");
        assert_eq!(adopted["decision"]["note"], "§ 123");
    }

    async fn draft_plan_is_withdrawn_with_a_reason(app: TestApp) {
        let plan = plan_in(&app, "draft").await;
        let body = json!({"to": "withdrawn", "reason": "Ersätts av regionens gemensamma plan"});
        assert_legal_transition(&app, &plan, &body, "draft", "withdrawn").await;
    }

    async fn adopted_plan_goes_under_revision_with_a_reason(app: TestApp) {
        let plan = plan_in(&app, "adopted").await;
        let body = json!({"to": "under_revision", "reason": "Översyn efter ny lagstiftning"});
        assert_legal_transition(&app, &plan, &body, "adopted", "under_revision").await;
    }

    async fn plan_under_revision_is_readopted_with_a_new_version_and_a_changelog_row(app: TestApp) {
        let plan = plan_in(&app, "under_revision").await;
        assert_eq!(get_plan(&app, &plan).await["document_version"], "1");
        let changelog_path = format!("/v1/plans/{plan}/changelog");
        let before = app.get(&changelog_path, Some(&app.root_token())).await.ok();
        let rows_before = before.as_array().expect("the changelog is an array").len();

        let body = json!({
            "to": "adopted", "decided_by": "Regiondirektören", "decided_on": "2016-02-01",
            "document_version": "2", "change": "Översyn av målformuleringar och aktiviteter"
        });
        let readopted = assert_legal_transition(&app, &plan, &body, "under_revision", "adopted").await;
        assert_eq!(readopted["document_version"], "2", "the plan carries the new version");
        assert_eq!(get_plan(&app, &plan).await["document_version"], "2");
        assert_eq!(readopted["decision"]["decided_by"], "Regiondirektören");
        assert_eq!(readopted["decision"]["decided_on"], "2016-02-01");

        let changelog = app.get(&changelog_path, Some(&app.root_token())).await.ok();
        let rows = changelog.as_array().expect("the changelog is an array");
        assert_eq!(rows.len(), rows_before + 1, "re-adopting writes one changelog row: {changelog}");
        let row = rows.last().expect("a row");
        assert_eq!(row["document_version"], "2");
        assert_eq!(row["change"], "Översyn av målformuleringar och aktiviteter");
        assert_eq!(row["decided_by"], "Regiondirektören");
        assert_eq!(row["decided_on"], "2016-02-01");
    }

    async fn adopted_plan_is_closed_with_a_reason(app: TestApp) {
        let plan = plan_in(&app, "adopted").await;
        let body = json!({"to": "closed", "reason": "Planperioden är slut"});
        assert_legal_transition(&app, &plan, &body, "adopted", "closed").await;
    }

    async fn plan_under_revision_is_closed_with_a_reason(app: TestApp) {
        let plan = plan_in(&app, "under_revision").await;
        let body = json!({"to": "closed", "reason": "Verksamheten läggs ned"});
        assert_legal_transition(&app, &plan, &body, "under_revision", "closed").await;
    }

    async fn adopted_plan_is_superseded_by_another_plan(app: TestApp) {
        let plan = plan_in(&app, "adopted").await;
        let successor = app.create_plan(ROOT_ORGANIZATION_ID, "Ny handlingsplan 2018–2020").await;
        let superseded = assert_legal_transition(&app, &plan, &supersede(&successor), "adopted", "superseded").await;
        assert_eq!(superseded["superseded_by"], successor.as_str());
        assert_eq!(get_plan(&app, &plan).await["superseded_by"], successor.as_str());
    }

    async fn plan_under_revision_is_superseded_by_another_plan(app: TestApp) {
        let plan = plan_in(&app, "under_revision").await;
        let successor = app.create_plan(ROOT_ORGANIZATION_ID, "Ny handlingsplan 2018–2020").await;
        let superseded =
            assert_legal_transition(&app, &plan, &supersede(&successor), "under_revision", "superseded").await;
        assert_eq!(superseded["superseded_by"], successor.as_str());
        assert_eq!(get_plan(&app, &plan).await["superseded_by"], successor.as_str());
    }

    async fn illegal_transitions_are_refused_with_the_allowed_targets_and_change_nothing(app: TestApp) {
        let successor = app.create_plan(ROOT_ORGANIZATION_ID, "Ersättande handlingsplan").await;
        let mut refused = 0;
        for from in STATUSES {
            let plan = plan_in(&app, from).await;
            let allowed = legal_targets(from);
            let before = get_plan(&app, &plan).await;
            for to in STATUSES.into_iter().filter(|to| !allowed.contains(to)) {
                let head = app.head_seq().await;
                let problem = transition(&app, &plan, &complete(to, &successor)).await.problem(409);
                assert_eq!(problem["type"], "/problems/invalid-transition", "{from} → {to}");
                assert_eq!(problem["allowed"], json!(allowed), "{from} → {to} lists the legal targets in table order");
                assert_eq!(app.head_seq().await, head, "{from} → {to} appends no event");
                let after = get_plan(&app, &plan).await;
                assert_eq!(after["status"], from, "{from} → {to} leaves the status");
                assert_eq!(revision(&after), revision(&before), "{from} → {to} leaves the revision");
                refused += 1;
            }
        }
        assert_eq!(refused, 4 + 3 + 3 + 6 + 6 + 6, "every illegal pair was tried");
    }

    async fn transitions_without_their_required_fields_are_refused_naming_the_fields(app: TestApp) {
        let draft = plan_in(&app, "draft").await;
        assert_refused_naming(&app, &draft, &json!({"to": "adopted"}), &["decided_by", "decided_on"]).await;
        assert_refused_naming(&app, &draft, &json!({"to": "adopted", "decided_by": "LD"}), &["decided_on"]).await;
        let undecided = json!({"to": "adopted", "decided_on": "2014-10-16"});
        assert_refused_naming(&app, &draft, &undecided, &["decided_by"]).await;
        assert_refused_naming(&app, &draft, &json!({"to": "withdrawn"}), &["reason"]).await;
        assert_refused_naming(&app, &draft, &json!({"to": "withdrawn", "reason": null}), &["reason"]).await;
        assert_refused_naming(&app, &draft, &json!({"to": "withdrawn", "reason": ""}), &["reason"]).await;

        let adopted = plan_in(&app, "adopted").await;
        assert_refused_naming(&app, &adopted, &json!({"to": "under_revision"}), &["reason"]).await;
        assert_refused_naming(&app, &adopted, &json!({"to": "closed"}), &["reason"]).await;
        assert_refused_naming(&app, &adopted, &json!({"to": "superseded"}), &["superseded_by"]).await;

        let revising = plan_in(&app, "under_revision").await;
        let decided = json!({"to": "adopted", "decided_by": "LD", "decided_on": "2016-02-01"});
        assert_refused_naming(&app, &revising, &decided, &["document_version", "change"]).await;
        let versioned = json!({"to": "adopted", "document_version": "2", "change": "Översyn"});
        assert_refused_naming(&app, &revising, &versioned, &["decided_by", "decided_on"]).await;
        let nothing = json!({"to": "adopted"});
        let all_four = ["decided_by", "decided_on", "document_version", "change"];
        assert_refused_naming(&app, &revising, &nothing, &all_four).await;
        assert_refused_naming(&app, &revising, &json!({"to": "closed"}), &["reason"]).await;
        assert_refused_naming(&app, &revising, &json!({"to": "superseded"}), &["superseded_by"]).await;
        let changelog = app.get(&format!("/v1/plans/{revising}/changelog"), Some(&app.root_token())).await.ok();
        assert_eq!(changelog, json!([]), "a refused re-adoption writes no changelog row");
        assert_eq!(get_plan(&app, &revising).await["document_version"], "1");
    }

    async fn superseding_needs_an_existing_other_plan(app: TestApp) {
        let plan = plan_in(&app, "adopted").await;
        let unknown = uuid::Uuid::new_v4().to_string();
        assert_refused_naming(&app, &plan, &supersede(&unknown), &["superseded_by"]).await;
        assert_refused_naming(&app, &plan, &supersede(&plan), &["superseded_by"]).await;
        assert_refused_naming(&app, &plan, &supersede("not-a-plan-id"), &["superseded_by"]).await;
        let revising = plan_in(&app, "under_revision").await;
        assert_refused_naming(&app, &revising, &supersede(&unknown), &["superseded_by"]).await;
        assert!(get_plan(&app, &plan).await["superseded_by"].is_null());
    }

    async fn goals_and_activities_are_listed_in_document_order_with_their_progress(app: TestApp) {
        let plan = plan_in(&app, "draft").await;
        let head = app.head_seq().await;
        let first = create_goal(&app, &plan, "1", "En jämställd och jämlik hälso-, sjuk och tandvård").await;
        let second = create_goal(&app, &plan, "2", "Ett jämställt och jämlikt bemötande").await;
        assert_eq!(first["plan_id"], plan.as_str());
        assert_eq!(first["status"], "not_started", "a new goal has not started");
        assert_eq!(revision(&first), 1);
        let (first_id, second_id) = (id_of(&first), id_of(&second));

        let titles = [
            ("Inrätta en läkargrupp som arbetar för en jämställd och jämlik vård", "done"),
            ("Utbilda chefer i jämställdhetsintegrering", "done"),
            ("Köns- och åldersuppdelad statistik i alla rapporter", "in_progress"),
            ("Översätt patientinformation till lätt svenska", "cancelled"),
        ];
        let mut activity_ids = Vec::new();
        for (title, _) in titles {
            let activity = create_activity(&app, &first_id, title).await;
            assert_eq!(activity["goal_id"], first_id.as_str());
            assert_eq!(activity["plan_id"], plan.as_str());
            assert_eq!(activity["status"], "planned", "a new activity is planned");
            activity_ids.push(id_of(&activity));
        }
        let created: Vec<String> =
            app.events_after(head).await.iter().map(|e| e["type"].as_str().expect("type").to_owned()).collect();
        let expected_types = ["goal.created", "goal.created"].into_iter().chain(["activity.created"; 4]);
        assert_eq!(created, expected_types.collect::<Vec<_>>());

        for ((_, status), id) in titles.iter().zip(&activity_ids) {
            let body = json!({"status": status, "reason": "Uppföljning 2016"});
            let changed = app.patch(&format!("/v1/activities/{id}"), Some(&app.root_token()), &body).await.ok();
            assert_eq!(changed["status"], *status);
        }

        let goals = app.get(&format!("/v1/plans/{plan}/goals"), Some(&app.root_token())).await.ok();
        let goal_ids: Vec<String> = goals["items"].as_array().expect("items").iter().map(id_of).collect();
        assert_eq!(goal_ids, [first_id.clone(), second_id.clone()], "goals in document order");
        assert!(goals["next_cursor"].is_null());

        let activities = app.get(&format!("/v1/goals/{first_id}/activities"), Some(&app.root_token())).await.ok();
        let listed_ids: Vec<String> = activities["items"].as_array().expect("items").iter().map(id_of).collect();
        assert_eq!(listed_ids, activity_ids, "activities in document order");
        let items = activities["items"].as_array().expect("items");
        let listed_titles: Vec<&str> = items.iter().map(|a| a["title"].as_str().expect("title")).collect();
        assert_eq!(listed_titles, titles.map(|(title, _)| title));
        let empty = app.get(&format!("/v1/goals/{second_id}/activities"), Some(&app.root_token())).await.ok();
        assert_eq!(empty["items"], json!([]));

        let expected = json!({
            "activities_total": 4,
            "by_status": {"planned": 0, "in_progress": 1, "done": 2, "postponed": 0, "cancelled": 1},
            "share_done": 0.67
        });
        let none = json!({
            "activities_total": 0,
            "by_status": {"planned": 0, "in_progress": 0, "done": 0, "postponed": 0, "cancelled": 0},
            "share_done": 0.0
        });
        let goal = app.get(&format!("/v1/goals/{first_id}"), Some(&app.root_token())).await.ok();
        assert_eq!(goal["progress"], expected, "2 done of 3 not cancelled is 0.67");
        assert_eq!(goals["items"][0]["progress"], expected);
        assert_eq!(goals["items"][1]["progress"], none);

        let detail = get_plan(&app, &plan).await;
        assert_eq!(detail["progress"], expected, "the plan's progress sums its goals'");
        let detail_goals = detail["goals"].as_array().expect("goals");
        assert_eq!(detail_goals.iter().map(id_of).collect::<Vec<_>>(), [first_id.clone(), second_id.clone()]);
        assert_eq!(detail_goals[0]["progress"], expected);
        let nested: Vec<String> =
            detail_goals[0]["activities"].as_array().expect("activities").iter().map(id_of).collect();
        assert_eq!(nested, activity_ids, "goals[].activities[] in document order");
        assert_eq!(detail_goals[0]["activities"][3]["status"], "cancelled");
        assert_eq!(detail_goals[1]["activities"], json!([]));

        let list = app.get("/v1/plans", Some(&app.root_token())).await.ok();
        let item = list["items"].as_array().expect("items").iter().find(|p| p["id"] == plan.as_str()).expect("listed");
        assert_eq!(item["progress"], expected, "the list carries the same progress");
    }

    async fn goal_and_activity_status_changes_are_events_and_cancelled_is_final(app: TestApp) {
        let plan = plan_in(&app, "adopted").await;
        let goal = create_goal(&app, &plan, "1", "Ett jämställt bemötande").await;
        let goal_id = id_of(&goal);
        let goal_path = format!("/v1/goals/{goal_id}");

        let head = app.head_seq().await;
        let body = json!({"status": "at_risk", "reason": "Rekryteringen är försenad"});
        let reply = app.patch(&goal_path, Some(&app.root_token()), &body).await;
        let changed = reply.ok();
        assert_eq!(changed["status"], "at_risk");
        assert_eq!(revision(&changed), revision(&goal) + 1);
        assert_eq!(reply.header("etag"), Some(format!("\"{}\"", revision(&changed))));
        let events = app.events_after(head).await;
        assert_eq!(events.len(), 1, "one status change, one event: {events:#?}");
        assert_eq!(events[0]["type"], "goal.status_changed");
        assert_eq!(events[0]["subject"]["id"], goal_id.as_str());
        assert_eq!(events[0]["data"]["from"], "not_started");
        assert_eq!(events[0]["data"]["to"], "at_risk");
        assert_eq!(events[0]["data"]["reason"], "Rekryteringen är försenad");

        let head = app.head_seq().await;
        let again = json!({"status": "at_risk", "reason": "Igen"});
        let same = app.patch(&goal_path, Some(&app.root_token()), &again).await.ok();
        assert_eq!(same["status"], "at_risk");
        assert_eq!(revision(&same), revision(&changed), "the same status changes nothing");
        assert_eq!(app.head_seq().await, head, "the same status appends no event");

        let activity = create_activity(&app, &goal_id, "Inrätta en läkargrupp").await;
        let activity_path = format!("/v1/activities/{}", id_of(&activity));
        let head = app.head_seq().await;
        let body = json!({"status": "in_progress", "reason": "Gruppen har börjat"});
        let started = app.patch(&activity_path, Some(&app.root_token()), &body).await.ok();
        assert_eq!(started["status"], "in_progress");
        assert_eq!(revision(&started), revision(&activity) + 1);
        let events = app.events_after(head).await;
        assert_eq!(events.len(), 1, "one status change, one event: {events:#?}");
        assert_eq!(events[0]["type"], "activity.status_changed");
        assert_eq!(events[0]["subject"]["id"], id_of(&activity).as_str());
        assert_eq!(events[0]["data"]["from"], "planned");
        assert_eq!(events[0]["data"]["to"], "in_progress");
        assert_eq!(events[0]["data"]["reason"], "Gruppen har börjat");

        let head = app.head_seq().await;
        let same = app.patch(&activity_path, Some(&app.root_token()), &json!({"status": "in_progress"})).await.ok();
        assert_eq!(revision(&same), revision(&started), "the same status changes nothing");
        assert_eq!(app.head_seq().await, head, "the same status appends no event");

        let body = json!({"status": "cancelled", "reason": "Ingår i regionens arbete"});
        let cancelled = app.patch(&activity_path, Some(&app.root_token()), &body).await.ok();
        assert_eq!(cancelled["status"], "cancelled");
        let head = app.head_seq().await;
        for back in ["planned", "in_progress", "done", "postponed"] {
            let reply = app.patch(&activity_path, Some(&app.root_token()), &json!({"status": back})).await;
            let problem = reply.problem(409);
            assert_eq!(problem["type"], "/problems/invalid-transition", "cancelled → {back}");
            assert_eq!(problem["allowed"], json!([]), "nothing is allowed after cancelled");
        }
        assert_eq!(app.head_seq().await, head, "a refused status change appends no event");
        let stored = app.get(&activity_path, Some(&app.root_token())).await.ok();
        assert_eq!(stored["status"], "cancelled");
        assert_eq!(revision(&stored), revision(&cancelled));

        app.patch(&goal_path, Some(&app.root_token()), &json!({"status": "cancelled"})).await.ok();
        let problem = app.patch(&goal_path, Some(&app.root_token()), &json!({"status": "on_track"})).await.problem(409);
        assert_eq!(problem["type"], "/problems/invalid-transition", "a cancelled goal stays cancelled");
        assert_eq!(app.get(&goal_path, Some(&app.root_token())).await.ok()["status"], "cancelled");
    }

    async fn final_plans_cannot_be_changed_nor_get_new_goals(app: TestApp) {
        for status in ["closed", "withdrawn", "superseded"] {
            let plan = plan_in(&app, "draft").await;
            let goal = id_of(&create_goal(&app, &plan, "1", "Ett jämställt bemötande").await);
            let activity = id_of(&create_activity(&app, &goal, "Inrätta en läkargrupp").await);
            let steps = match status {
                "closed" => vec![adopt(), with_reason("closed")],
                "withdrawn" => vec![with_reason("withdrawn")],
                _ => vec![adopt(), supersede(&app.create_plan(ROOT_ORGANIZATION_ID, "Ny plan").await)],
            };
            for step in steps {
                transition(&app, &plan, &step).await.ok();
            }
            let before = get_plan(&app, &plan).await;
            assert_eq!(before["status"], status);
            let head = app.head_seq().await;
            let token = app.root_token();

            let retitle = json!({"title": "Ny titel"});
            let problem = app.patch(&format!("/v1/plans/{plan}"), Some(&token), &retitle).await.problem(409);
            assert_eq!(problem["type"], "/problems/conflict", "PATCH of a {status} plan");
            let new_goal = json!({"number": "2", "title": "Ett nytt mål"});
            let problem = app.post(&format!("/v1/plans/{plan}/goals"), Some(&token), &new_goal).await.problem(409);
            assert_eq!(problem["type"], "/problems/conflict", "a new goal on a {status} plan");
            let achieved = json!({"status": "achieved"});
            let problem = app.patch(&format!("/v1/goals/{goal}"), Some(&token), &achieved).await.problem(409);
            assert_eq!(problem["type"], "/problems/conflict", "a goal of a {status} plan");
            let new_activity = json!({"title": "En ny aktivitet"});
            let reply = app.post(&format!("/v1/goals/{goal}/activities"), Some(&token), &new_activity).await;
            let problem = reply.problem(409);
            assert_eq!(problem["type"], "/problems/conflict", "a new activity on a {status} plan");
            let done = json!({"status": "done"});
            let problem = app.patch(&format!("/v1/activities/{activity}"), Some(&token), &done).await.problem(409);
            assert_eq!(problem["type"], "/problems/conflict", "an activity of a {status} plan");

            assert_eq!(app.head_seq().await, head, "nothing on a {status} plan appends an event");
            let after = get_plan(&app, &plan).await;
            assert_eq!(after["title"], before["title"]);
            assert_eq!(revision(&after), revision(&before));
            assert_eq!(after["goals"].as_array().expect("goals").len(), 1);
            assert_eq!(after["goals"][0]["status"], "not_started");
            assert_eq!(after["goals"][0]["activities"].as_array().expect("activities").len(), 1);
            assert_eq!(after["goals"][0]["activities"][0]["status"], "planned");
        }
    }

    async fn patch_with_a_stale_if_match_is_refused_and_the_current_one_applies(app: TestApp) {
        let plan = plan_in(&app, "draft").await;
        let path = format!("/v1/plans/{plan}");
        let first = app.patch(&path, Some(&app.root_token()), &json!({"owner": "Regiondirektör"})).await;
        assert_eq!(revision(&first.ok()), 2);
        assert_eq!(first.header("etag").as_deref(), Some("\"2\""));
        let read = app.get(&path, Some(&app.root_token())).await;
        let tag = read.header("etag").expect("GET carries the ETag");
        assert!(tag.starts_with("\"2.") && tag.ends_with('"'), "the plan read whole is tagged by its revision and last event: {tag}");

        let head = app.head_seq().await;
        let stale = send_if_match(&app, Method::PATCH, &path, "\"1\"", &json!({"title": "Ändrad titel"})).await;
        stale.problem(412);
        let weak = send_if_match(&app, Method::PATCH, &path, "W/\"2\"", &json!({"title": "Ändrad titel"})).await;
        weak.problem(412);
        let body = json!({"to": "withdrawn", "reason": "Fel plan"});
        let stale_transition = send_if_match(&app, Method::POST, &format!("{path}/transitions"), "\"1\"", &body).await;
        stale_transition.problem(412);
        assert_eq!(app.head_seq().await, head, "a refused request appends no event");
        let unchanged = get_plan(&app, &plan).await;
        assert_eq!(unchanged["title"], "Handlingsplan (draft)");
        assert_eq!(unchanged["status"], "draft");
        assert_eq!(revision(&unchanged), 2);

        let current = send_if_match(&app, Method::PATCH, &path, "\"2\"", &json!({"title": "Ändrad titel"})).await;
        let changed = current.ok();
        assert_eq!(changed["title"], "Ändrad titel");
        assert_eq!(revision(&changed), 3);
        assert_eq!(current.header("etag").as_deref(), Some("\"3\""));
        let events = app.events_after(head).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["type"], "plan.updated");

        let adopted = send_if_match(&app, Method::POST, &format!("{path}/transitions"), "\"3\"", &adopt()).await;
        assert_eq!(adopted.ok()["status"], "adopted");
        assert_eq!(adopted.header("etag").as_deref(), Some("\"4\""));
    }

    async fn history_holds_the_plans_goals_and_activities_events_oldest_first_and_pages(app: TestApp) {
        let token = app.root_token();
        let plan = plan_in(&app, "draft").await;
        let other = plan_in(&app, "draft").await;
        let goal = id_of(&create_goal(&app, &plan, "1", "Ett jämställt bemötande").await);
        create_goal(&app, &other, "1", "Ett annat mål").await;
        let activity = id_of(&create_activity(&app, &goal, "Inrätta en läkargrupp").await);
        app.patch(&format!("/v1/activities/{activity}"), Some(&token), &json!({"status": "in_progress"})).await.ok();
        let retitle = json!({"title": "Ett jämställt och jämlikt bemötande"});
        app.patch(&format!("/v1/goals/{goal}"), Some(&token), &retitle).await.ok();
        app.patch(&format!("/v1/plans/{other}"), Some(&token), &json!({"owner": "Någon annan"})).await.ok();
        app.patch(&format!("/v1/plans/{plan}"), Some(&token), &json!({"owner": "Regiondirektör"})).await.ok();
        transition(&app, &plan, &adopt()).await.ok();
        transition(&app, &other, &adopt()).await.ok();

        let whole = history_page(&app, &plan, "").await;
        let events = whole["events"].as_array().expect("events").clone();
        let seen: Vec<(String, String)> = events
            .iter()
            .map(|e| {
                let kind = e["type"].as_str().expect("type").to_owned();
                (kind, e["subject"]["id"].as_str().expect("subject").to_owned())
            })
            .collect();
        let expected: Vec<(String, String)> = [
            ("plan.created", &plan),
            ("goal.created", &goal),
            ("activity.created", &activity),
            ("activity.status_changed", &activity),
            ("goal.updated", &goal),
            ("plan.updated", &plan),
            ("plan.status_changed", &plan),
        ]
        .into_iter()
        .map(|(kind, id)| (kind.to_owned(), id.clone()))
        .collect();
        assert_eq!(seen, expected, "the plan's own events and those under it, oldest first, nothing of the other plan");
        let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
        assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "seq increases: {seqs:?}");
        let next_after = whole["next_after"].as_i64().expect("next_after");
        let last = *seqs.last().expect("events");
        // Like /v1/events, next_after may move past the other plan's events that the filter left out.
        assert!(last <= next_after && next_after <= app.head_seq().await, "next_after {next_after} after seq {last}");

        let mut walked = Vec::new();
        let mut after = 0;
        for _ in 0..20 {
            let page = history_page(&app, &plan, &format!("after={after}&limit=2")).await;
            let batch = page["events"].as_array().expect("events");
            assert!(batch.len() <= 2, "limit=2 answers at most two: {page}");
            if batch.is_empty() {
                break;
            }
            walked.extend(batch.iter().cloned());
            after = page["next_after"].as_i64().expect("next_after");
        }
        assert_eq!(walked, events, "paging with after=next_after&limit=2 walks the same events");
    }

    async fn plan_list_filters_by_status_text_period_and_organization_and_pages(app: TestApp) {
        let region = app.create_organization("Region Jämtland Härjedalen", "region", None).await;
        let krokom = app.create_organization("Krokoms kommun", "municipality", Some(&region)).await;
        let title = "Övergripande handlingsplan mot våld i nära relation";
        let a = new_plan(&app, &region, title, "2015-01-01", Some("2017-12-31")).await;
        let b = new_plan(&app, &region, "Handlingsplan för jämställd vård", "2018-01-01", Some("2020-12-31")).await;
        let c = new_plan(&app, &krokom, "Krokoms övergripande folkhälsoplan", "2016-01-01", Some("2016-12-31")).await;
        let d = new_plan(&app, &krokom, "Plan för äldreomsorgen", "2019-01-01", None).await;
        let e = new_plan(&app, &krokom, "Klimatplan", "2014-01-01", Some("2015-12-31")).await;
        transition(&app, &a, &adopt()).await.ok();
        transition(&app, &c, &adopt()).await.ok();
        transition(&app, &e, &with_reason("withdrawn")).await.ok();

        assert_eq!(as_set(listed(&app, "status=adopted").await), set(&[&a, &c]));
        assert_eq!(as_set(listed(&app, "status=draft").await), set(&[&b, &d]));
        assert_eq!(as_set(listed(&app, "status=withdrawn").await), set(&[&e]));
        assert_eq!(listed(&app, "status=closed").await, Vec::<String>::new());

        assert_eq!(as_set(listed(&app, &format!("q={}", encode("övergripande"))).await), set(&[&a, &c]), "ö matches Ö");
        assert_eq!(as_set(listed(&app, &format!("q={}", encode("ÖVERGRIPANDE"))).await), set(&[&a, &c]), "Ö matches ö");
        assert_eq!(as_set(listed(&app, &format!("q={}", encode("ÄLDREOMSORG"))).await), set(&[&d]));
        assert_eq!(as_set(listed(&app, &format!("q={}", encode("Jämställd"))).await), set(&[&b]));
        assert_eq!(as_set(listed(&app, "q=handlingsplan").await), set(&[&a, &b]));

        assert_eq!(as_set(listed(&app, "period=2016").await), set(&[&a, &c]));
        assert_eq!(as_set(listed(&app, "period=2015").await), set(&[&a, &e]));
        assert_eq!(as_set(listed(&app, "period=2019").await), set(&[&b, &d]));
        assert_eq!(as_set(listed(&app, "period=2030").await), set(&[&d]), "an open-ended plan covers later years");
        assert_eq!(listed(&app, "period=2010").await, Vec::<String>::new());

        assert_eq!(as_set(listed(&app, &format!("organization_id={krokom}")).await), set(&[&c, &d, &e]));
        assert_eq!(as_set(listed(&app, &format!("organization_id={krokom}&status=draft")).await), set(&[&d]));
        assert_eq!(as_set(listed(&app, &format!("organization_id={krokom}&period=2016")).await), set(&[&c]));

        let all = [&a, &b, &c, &d, &e];
        let mut visited = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(cursor) => format!("/v1/plans?limit=2&cursor={}", encode(cursor)),
                None => "/v1/plans?limit=2".to_owned(),
            };
            let page = app.get(&path, Some(&app.root_token())).await.ok();
            let items = page["items"].as_array().expect("items");
            assert!(items.len() <= 2, "limit=2 answers at most two: {page}");
            visited.extend(items.iter().map(id_of));
            pages += 1;
            assert!(pages <= 10, "paging never ended");
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(visited, all.map(|id| id.clone()), "every plan exactly once, in creation order");
        assert_eq!(listed(&app, "limit=1&status=draft").await, [b.clone(), d.clone()]);
    }

    async fn plans_are_guarded_by_token_organization_and_role(app: TestApp) {
        let region = app.create_organization("Region Jämtland Härjedalen", "region", None).await;
        let krokom = app.create_organization("Krokoms kommun", "municipality", Some(&region)).await;
        let ostersund = app.create_organization("Östersunds kommun", "municipality", Some(&region)).await;
        let title = "Krokoms handlingsplan för jämställdhet";
        let plan = new_plan(&app, &krokom, title, "2016-01-01", Some("2018-12-31")).await;
        let path = format!("/v1/plans/{plan}");

        app.get(&path, None).await.problem(404);
        app.get(&format!("{path}/goals"), None).await.problem(404);
        let new = json!({"organization_id": krokom, "title": "Anonym plan"});
        let problem = app.post("/v1/plans", None, &new).await.problem(401);
        assert_eq!(problem["type"], "/problems/unauthorized");
        app.post(&format!("{path}/transitions"), None, &adopt()).await.problem(401);
        app.patch(&path, None, &json!({"owner": "Någon"})).await.problem(401);

        let reader = app.token(&krokom, &[Role::Reader]);
        assert_eq!(app.get(&path, Some(&reader)).await.ok()["status"], "draft", "a reader in scope sees drafts");
        app.patch(&path, Some(&reader), &json!({"owner": "Läsaren"})).await.problem(403);
        app.post(&format!("{path}/goals"), Some(&reader), &json!({"title": "Ett mål"})).await.problem(403);

        let sibling_editor = app.token(&ostersund, &[Role::Reader, Role::Editor, Role::Approver]);
        app.get(&path, Some(&sibling_editor)).await.problem(404);
        app.patch(&path, Some(&sibling_editor), &json!({"owner": "Grannen"})).await.problem(404);
        let sibling_list = app.get("/v1/plans", Some(&sibling_editor)).await.ok();
        assert!(
            sibling_list["items"].as_array().expect("items").iter().all(|p| p["id"] != plan.as_str()),
            "a sibling's draft is not listed"
        );

        let head = app.head_seq().await;
        let editor = app.token(&krokom, &[Role::Reader, Role::Editor]);
        let edited = app.patch(&path, Some(&editor), &json!({"owner": "Kommundirektör"})).await.ok();
        assert_eq!(edited["owner"], "Kommundirektör");
        let before_adopt = app.head_seq().await;
        assert_eq!(before_adopt, head + 1, "the editor's change is one event");
        app.post(&format!("{path}/transitions"), Some(&editor), &adopt()).await.problem(403);
        assert_eq!(app.head_seq().await, before_adopt, "a forbidden adoption appends no event");
        assert_eq!(get_plan(&app, &plan).await["status"], "draft");

        let approver = app.token(&krokom, &[Role::Reader, Role::Approver]);
        app.patch(&path, Some(&approver), &json!({"owner": "Godkännaren"})).await.problem(403);
        let adopted = app.post(&format!("{path}/transitions"), Some(&approver), &adopt()).await.ok();
        assert_eq!(adopted["status"], "adopted");

        let region_approver = app.token(&region, &[Role::Approver]);
        let body = json!({"to": "under_revision", "reason": "Regionen reviderar"});
        let revising = app.post(&format!("{path}/transitions"), Some(&region_approver), &body).await.ok();
        assert_eq!(revising["status"], "under_revision", "a token acts within its organization's descendants");

        assert_eq!(app.get(&path, None).await.ok()["status"], "under_revision", "public once out of draft");
        assert_eq!(app.get(&path, Some(&sibling_editor)).await.ok()["id"], plan.as_str());
        app.patch(&path, Some(&sibling_editor), &json!({"owner": "Grannen"})).await.problem(403);
        app.post(&format!("{path}/transitions"), Some(&sibling_editor), &with_reason("closed")).await.problem(403);

        let draft = new_plan(&app, &krokom, "Utkast som dras tillbaka", "2016-01-01", None).await;
        let withdraw = with_reason("withdrawn");
        let withdrawn = app.post(&format!("/v1/plans/{draft}/transitions"), Some(&editor), &withdraw).await.ok();
        assert_eq!(withdrawn["status"], "withdrawn", "an editor withdraws a draft");
    }
}
