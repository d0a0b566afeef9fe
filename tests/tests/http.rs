//! End-to-end tests over real HTTP: problem+json errors, authentication,
//! organizations, authorization scope, the event feed and the service
//! endpoints — each against SQLite and PostgreSQL.

use planledger_domain::ids::ROOT_ORGANIZATION_ID;
use planledger_domain::permissions::Role;
use planledger_tests::{backend_tests, send, Reply, TestApp, AUDIENCE, ISSUER, JWT_SECRET};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;

// ---------------------------------------------------------------- helpers

fn url(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.base_url)
}

/// A valid body for `POST /v1/plans`.
fn plan_body(organization: &str, title: &str) -> Value {
    json!({
        "organization_id": organization, "title": title, "diary_number": "LS/1/2026",
        "period_start": "2026-01-01", "period_end": "2028-12-31"
    })
}

/// Creates an organization with a code (root admin) and answers its id.
async fn create_org(app: &TestApp, name: &str, kind: &str, code: Option<&str>, parent: Option<&str>) -> String {
    let body = json!({"name": name, "kind": kind, "code": code, "parent_id": parent});
    app.post("/v1/organizations", Some(&app.root_token()), &body)
        .await
        .created()["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// A region with two municipalities.
struct Tree {
    region: String,
    municipality: String,
    sibling: String,
}

async fn tree(app: &TestApp) -> Tree {
    let region = create_org(app, "Region Jämtland Härjedalen", "region", Some("23"), None).await;
    let municipality = create_org(app, "Krokoms kommun", "municipality", Some("2309"), Some(&region)).await;
    let sibling = create_org(app, "Östersunds kommun", "municipality", Some("2380"), Some(&region)).await;
    Tree {
        region,
        municipality,
        sibling,
    }
}

/// The field names of a validation problem's `errors`.
fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("a validation problem lists errors: {problem}"))
        .iter()
        .map(|error| error["field"].as_str().expect("field").to_owned())
        .collect()
}

/// Fails unless the log is where it was: a refused request writes nothing.
async fn assert_nothing_written(app: &TestApp, before: i64) {
    assert_eq!(app.head_seq().await, before, "a refused request appended an event");
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims that planledger accepts: the root organization with every role, valid for an hour.
fn good_claims() -> Value {
    json!({
        "sub": "test-user", "org": ROOT_ORGANIZATION_ID, "roles": ["reader", "editor", "approver", "admin"],
        "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 3600, "iat": now()
    })
}

fn with_claim(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

/// An HS256 token over `claims`, signed with `secret`.
fn hs256(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("token")
}

/// Base64url without padding (RFC 4648 §5), for hand-made tokens.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Posts a valid organization with `authorization` as the whole header value.
async fn create_org_with_authorization(app: &TestApp, authorization: &str) -> Reply {
    let body = json!({"name": "Bergs kommun", "kind": "municipality", "code": "2326"});
    send(
        app.client
            .post(url(app, "/v1/organizations"))
            .header("Authorization", authorization)
            .json(&body),
    )
    .await
}

/// Asserts that a bad credential is refused with 401 and writes nothing.
async fn assert_refused(app: &TestApp, authorization: &str) {
    let before = app.head_seq().await;
    let problem = create_org_with_authorization(app, authorization).await.problem(401);
    assert_eq!(problem["type"], "/problems/unauthorized");
    assert_nothing_written(app, before).await;
}

/// Every organization id of a list, walking the pages with `limit`.
async fn organization_ids_paged(app: &TestApp, token: &str, limit: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let path = match &cursor {
            Some(cursor) => format!("/v1/organizations?limit={limit}&cursor={cursor}"),
            None => format!("/v1/organizations?limit={limit}"),
        };
        let page = app.get(&path, Some(token)).await.ok();
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= limit as usize, "a page holds at most `limit` items");
        ids.extend(items.iter().map(|item| item["id"].as_str().expect("id").to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
    panic!("the organization list never ended");
}

fn ids_of(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_owned())
        .collect()
}

fn events_of(page: &Value) -> Vec<Value> {
    page["events"].as_array().expect("events").clone()
}

// ---------------------------------------------------------------- tests

backend_tests! {
    // 1. Errors are problem+json, and validation failures never write.

    async fn malformed_json_is_400_problem(app: TestApp) {
        let before = app.head_seq().await;
        let reply = send(
            app.client
                .post(url(&app, "/v1/plans"))
                .bearer_auth(app.root_token())
                .header("Content-Type", "application/json")
                .body(r#"{"title": "Handlingsplan", "organization_id": "#),
        )
        .await;
        let problem = reply.problem(400);
        assert_eq!(problem["type"], "/problems/malformed-json");
        assert_nothing_written(&app, before).await;
    }

    async fn unknown_body_field_is_422_naming_it(app: TestApp) {
        let before = app.head_seq().await;
        let mut body = plan_body(ROOT_ORGANIZATION_ID, "Handlingsplan");
        body["colour"] = json!("röd");
        let problem = app.post("/v1/plans", Some(&app.root_token()), &body).await.problem(422);
        assert_eq!(problem["type"], "/problems/validation");
        assert!(
            error_fields(&problem).contains(&"colour".to_owned()),
            "errors name the unknown field: {problem}"
        );

        let organization = json!({"name": "Bergs kommun", "kind": "municipality", "kommunkod": "2326"});
        let problem = app
            .post("/v1/organizations", Some(&app.root_token()), &organization)
            .await
            .problem(422);
        assert!(
            error_fields(&problem).contains(&"kommunkod".to_owned()),
            "errors name the unknown field: {problem}"
        );
        assert_nothing_written(&app, before).await;
    }

    async fn missing_required_field_is_422_naming_it(app: TestApp) {
        let before = app.head_seq().await;
        let mut body = plan_body(ROOT_ORGANIZATION_ID, "Handlingsplan");
        body.as_object_mut().expect("object").remove("title");
        let problem = app.post("/v1/plans", Some(&app.root_token()), &body).await.problem(422);
        assert_eq!(problem["type"], "/problems/validation");
        assert_eq!(error_fields(&problem), ["title"]);
        assert_nothing_written(&app, before).await;
    }

    async fn wrong_field_type_is_422_naming_the_field(app: TestApp) {
        let before = app.head_seq().await;
        let mut body = plan_body(ROOT_ORGANIZATION_ID, "Handlingsplan");
        body["period_start"] = json!(5);
        let problem = app.post("/v1/plans", Some(&app.root_token()), &body).await.problem(422);
        assert_eq!(problem["type"], "/problems/validation");
        assert_eq!(error_fields(&problem), ["period_start"]);
        assert_nothing_written(&app, before).await;
    }

    async fn period_end_before_period_start_is_422(app: TestApp) {
        let before = app.head_seq().await;
        let mut body = plan_body(ROOT_ORGANIZATION_ID, "Handlingsplan");
        body["period_start"] = json!("2017-12-31");
        body["period_end"] = json!("2015-01-01");
        let problem = app.post("/v1/plans", Some(&app.root_token()), &body).await.problem(422);
        assert_eq!(problem["type"], "/problems/validation");
        assert_eq!(error_fields(&problem), ["period_end"]);
        assert_nothing_written(&app, before).await;

        // The same rule holds for a change of an existing plan.
        let plan = app.create_plan(ROOT_ORGANIZATION_ID, "Handlingsplan").await;
        let before = app.head_seq().await;
        let patch = json!({"period_end": "2020-01-01", "period_start": "2021-01-01"});
        let problem = app
            .patch(&format!("/v1/plans/{plan}"), Some(&app.root_token()), &patch)
            .await
            .problem(422);
        assert_eq!(error_fields(&problem), ["period_end"]);
        assert_nothing_written(&app, before).await;
        let stored = app
            .get(&format!("/v1/plans/{plan}"), Some(&app.root_token()))
            .await
            .ok();
        assert_eq!(
            stored["period_start"], "2026-01-01",
            "a refused change leaves the plan as it was"
        );
        assert_eq!(stored["revision"], 1);
    }

    async fn empty_body_is_400(app: TestApp) {
        let before = app.head_seq().await;
        for body in ["", "  \n"] {
            let reply = send(
                app.client
                    .post(url(&app, "/v1/plans"))
                    .bearer_auth(app.root_token())
                    .header("Content-Type", "application/json")
                    .body(body),
            )
            .await;
            assert_eq!(reply.problem(400)["type"], "/problems/malformed-json");
        }
        assert_nothing_written(&app, before).await;
    }

    async fn non_json_content_type_is_415(app: TestApp) {
        let before = app.head_seq().await;
        let body = plan_body(ROOT_ORGANIZATION_ID, "Handlingsplan").to_string();
        let reply = send(
            app.client
                .post(url(&app, "/v1/plans"))
                .bearer_auth(app.root_token())
                .header("Content-Type", "text/plain")
                .body(body),
        )
        .await;
        assert_eq!(reply.problem(415)["type"], "/problems/unsupported-media-type");
        assert_nothing_written(&app, before).await;
    }

    async fn body_over_the_limit_is_413(app: TestApp) {
        let before = app.head_seq().await;
        let mut body = plan_body(ROOT_ORGANIZATION_ID, "Handlingsplan");
        body["summary"] = json!("å".repeat(750_000)); // 1.5 MB of UTF-8
        let reply = app.post("/v1/plans", Some(&app.root_token()), &body).await;
        assert_eq!(reply.problem(413)["type"], "/problems/payload-too-large");
        assert_nothing_written(&app, before).await;
    }

    async fn unknown_id_is_404(app: TestApp) {
        let before = app.head_seq().await;
        let token = app.root_token();
        let unknown = uuid::Uuid::new_v4();
        for path in [
            format!("/v1/plans/{unknown}"),
            format!("/v1/organizations/{unknown}"),
            format!("/v1/goals/{unknown}"),
        ] {
            assert_eq!(
                app.get(&path, Some(&token)).await.problem(404)["type"],
                "/problems/not-found",
                "{path}"
            );
        }
        let patch = app
            .patch(
                &format!("/v1/plans/{unknown}"),
                Some(&token),
                &json!({"title": "Ny titel"}),
            )
            .await;
        patch.problem(404);
        assert_nothing_written(&app, before).await;
    }

    async fn non_uuid_id_is_404(app: TestApp) {
        let before = app.head_seq().await;
        let token = app.root_token();
        for path in [
            "/v1/plans/not-a-uuid",
            "/v1/organizations/2309",
            "/v1/activities/%C3%B6",
        ] {
            assert_eq!(
                app.get(path, Some(&token)).await.problem(404)["type"],
                "/problems/not-found",
                "{path}"
            );
        }
        app.patch("/v1/plans/not-a-uuid", Some(&token), &json!({"title": "Ny titel"}))
            .await
            .problem(404);
        assert_nothing_written(&app, before).await;
    }

    async fn unknown_path_is_404_problem(app: TestApp) {
        for path in ["/v1/nothing-here", "/v2/plans", "/"] {
            assert_eq!(
                app.get(path, None).await.problem(404)["type"],
                "/problems/not-found",
                "{path}"
            );
        }
        let reply = app.post("/v1/nothing-here", Some(&app.root_token()), &json!({})).await;
        reply.problem(404);
    }

    async fn bad_limit_is_400(app: TestApp) {
        let token = app.root_token();
        for list in ["/v1/plans", "/v1/organizations", "/v1/events"] {
            for limit in ["-1", "0", "abc", "1.5", ""] {
                let path = format!("{list}?limit={limit}");
                assert_eq!(
                    app.get(&path, Some(&token)).await.problem(400)["type"],
                    "/problems/bad-request",
                    "{path}"
                );
            }
        }
    }

    async fn limit_over_the_maximum_is_400_not_cut(app: TestApp) {
        let token = app.root_token();
        let plan = app.create_plan(ROOT_ORGANIZATION_ID, "Handlingsplan").await;
        for (list, max) in [
            ("/v1/plans".to_owned(), 500),
            ("/v1/organizations".to_owned(), 500),
            ("/v1/events".to_owned(), 1000),
            (format!("/v1/plans/{plan}/history"), 1000),
        ] {
            app.get(&format!("{list}?limit={max}"), Some(&token)).await.ok();
            let over = format!("{list}?limit={}", max + 1);
            let problem = app.get(&over, Some(&token)).await.problem(400);
            assert!(
                problem["detail"].as_str().is_some_and(|d| d.contains(&format!("1 to {max}"))),
                "{over}: {problem}"
            );
        }
    }

    async fn an_empty_number_parameter_is_400(app: TestApp) {
        let token = app.root_token();
        for path in ["/v1/events?after=", "/v1/events?wait=", "/v1/events/stream?after="] {
            app.get(path, Some(&token)).await.problem(400);
        }
    }

    async fn an_object_field_given_as_an_array_is_422(app: TestApp) {
        let token = app.root_token();
        let mut body = plan_body(ROOT_ORGANIZATION_ID, "Handlingsplan");
        body["perspectives"] = json!([null, null]);
        let problem = app.post("/v1/plans", Some(&token), &body).await.problem(422);
        assert_eq!(problem["errors"][0]["field"], "perspectives");
        body["perspectives"] = json!({"children": "Barnkonsekvensanalys"});
        let plan = app.post("/v1/plans", Some(&token), &body).await.created();

        // A whole body given as an array (which serde would read as the fields in order) or a scalar.
        let path = format!("/v1/plans/{}", plan["id"].as_str().expect("id"));
        for not_an_object in [json!([]), json!(["Ny titel"]), json!("Ny titel"), json!(7)] {
            let problem = app.patch(&path, Some(&token), &not_an_object).await.problem(422);
            assert_eq!(problem["errors"][0]["field"], "body", "{not_an_object}");
        }
        assert_eq!(app.get(&path, Some(&token)).await.ok()["title"], plan["title"]);
    }

    async fn an_empty_id_filter_is_400(app: TestApp) {
        let token = app.root_token();
        for path in [
            "/v1/indicators?organization_id=",
            "/v1/organizations?parent_id=",
            "/v1/plans?organization_id=",
        ] {
            app.get(path, Some(&token)).await.problem(400);
        }
    }

    async fn times_outside_the_stored_years_answer_as_at_the_bound(app: TestApp) {
        let token = app.root_token();
        let plan = app.create_plan(ROOT_ORGANIZATION_ID, "Handlingsplan").await;
        // RFC 3339 allows the years 0000 to 9999; nothing is stored before 1000 or after 9999.
        for since in ["0001-01-01T00:00:00Z", "0999-12-31T23:00:00-02:00"] {
            let page = app.get(&format!("/v1/plans?updated_since={since}"), Some(&token)).await.ok();
            assert_eq!(page["items"][0]["id"], plan.as_str(), "{since}");
        }
        let later = app.get("/v1/plans?updated_since=9999-12-31T23:59:59Z", Some(&token)).await.ok();
        assert_eq!(later["items"], json!([]));
        let then = app.get(&format!("/v1/plans/{plan}?as_of=0500-01-01T00:00:00Z"), Some(&token)).await;
        then.problem(404);
        app.get(&format!("/v1/plans/{plan}?as_of=9999-12-31T23:59:59Z"), Some(&token)).await.ok();
        // A signed or five-digit year is no RFC 3339 (unless it is the same instant as one: 9999-12-31T23:00-01:00).
        for time in ["%2B12000-01-01T00:00:00Z", "-0100-01-01T00:00:00Z"] {
            app.get(&format!("/v1/plans?updated_since={time}"), Some(&token)).await.problem(400);
        }
    }

    async fn whole_numbers_written_with_a_fraction_are_integers(app: TestApp) {
        let token = app.root_token();
        let plan = app.create_plan(ROOT_ORGANIZATION_ID, "Handlingsplan").await;
        let goal = app
            .post(&format!("/v1/plans/{plan}/goals"), Some(&token), &json!({"title": "Mål"}))
            .await
            .created()["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let body = json!({"title": "Aktivitet", "start_year": 2015.0, "end_year": 2016});
        let activity = app.post(&format!("/v1/goals/{goal}/activities"), Some(&token), &body).await.created();
        assert_eq!((activity["start_year"].clone(), activity["end_year"].clone()), (json!(2015), json!(2016)));
        let fraction = json!({"title": "Aktivitet", "start_year": 2015.5});
        let problem = app.post(&format!("/v1/goals/{goal}/activities"), Some(&token), &fraction).await.problem(422);
        assert_eq!(problem["errors"][0]["field"], "start_year");
    }

    async fn garbage_cursor_is_400(app: TestApp) {
        let token = app.root_token();
        app.create_plan(ROOT_ORGANIZATION_ID, "Handlingsplan").await;
        // `Z2FyYmFnZQ` is base64url of "garbage": well-formed base64, but no cursor this service gave out.
        for cursor in ["garbage!!", "%%%", "Z2FyYmFnZQ"] {
            for list in ["/v1/plans", "/v1/organizations"] {
                let path = format!("{list}?cursor={cursor}");
                assert_eq!(
                    app.get(&path, Some(&token)).await.problem(400)["type"],
                    "/problems/bad-request",
                    "{path}"
                );
            }
        }
    }

    // 2. Every problem `type` is a path the service serves.

    async fn problem_type_paths_are_served(app: TestApp) {
        let token = app.root_token();
        let mut body = plan_body(ROOT_ORGANIZATION_ID, "Handlingsplan");
        body["period_start"] = json!(5);
        let mut types = vec![app.post("/v1/plans", Some(&token), &body).await.problem(422)["type"].clone()];
        types.push(app.get("/v1/nothing-here", None).await.problem(404)["type"].clone());
        types.push(app.get("/v1/plans?limit=abc", Some(&token)).await.problem(400)["type"].clone());
        types.push(app.get("/v1/events", None).await.problem(401)["type"].clone());
        let malformed = send(
            app.client
                .post(url(&app, "/v1/plans"))
                .bearer_auth(&token)
                .header("Content-Type", "application/json")
                .body("{"),
        )
        .await;
        types.push(malformed.problem(400)["type"].clone());
        assert_eq!(types[0], "/problems/validation");
        for problem_type in types {
            let path = problem_type.as_str().expect("type").to_owned();
            let page = app.get(&path, None).await;
            assert_eq!(page.status, StatusCode::OK, "{path} is served: {}", page.text);
            let content_type = page.header("content-type").unwrap_or_default();
            assert!(
                content_type.starts_with("text/"),
                "{path} is a text page, got {content_type}"
            );
            assert!(!page.text.trim().is_empty(), "{path} says something");
        }
        assert!(app.get("/problems/validation", None).await.text.contains("422"));
        app.get("/problems/no-such-problem", None).await.problem(404);
    }

    // 3. Authentication.

    async fn missing_token_is_401_with_www_authenticate(app: TestApp) {
        let before = app.head_seq().await;
        let body = json!({"name": "Bergs kommun", "kind": "municipality", "code": "2326"});
        let reply = app.post("/v1/organizations", None, &body).await;
        let problem = reply.problem(401);
        assert_eq!(problem["type"], "/problems/unauthorized");
        let challenge = reply
            .header("www-authenticate")
            .expect("a 401 carries WWW-Authenticate");
        assert!(
            challenge.starts_with("Bearer"),
            "the challenge names the Bearer scheme: {challenge}"
        );
        assert_nothing_written(&app, before).await;
    }

    async fn correctly_built_token_is_accepted(app: TestApp) {
        // The control for the tests below: the same builder with good claims and the right secret works.
        let token = hs256(JWT_SECRET, &good_claims());
        let reply = create_org_with_authorization(&app, &format!("Bearer {token}")).await;
        reply.created();
    }

    async fn token_signed_with_another_secret_is_401(app: TestApp) {
        let token = hs256("another-secret-0123456789abcdef-xyz", &good_claims());
        assert_refused(&app, &format!("Bearer {token}")).await;
    }

    async fn expired_token_is_401(app: TestApp) {
        let claims = with_claim(good_claims(), "exp", json!(now() - 120));
        let claims = with_claim(claims, "iat", json!(now() - 3720));
        assert_refused(&app, &format!("Bearer {}", hs256(JWT_SECRET, &claims))).await;
    }

    async fn wrong_issuer_is_401(app: TestApp) {
        let claims = with_claim(good_claims(), "iss", json!("someone-else"));
        assert_refused(&app, &format!("Bearer {}", hs256(JWT_SECRET, &claims))).await;
    }

    async fn wrong_audience_is_401(app: TestApp) {
        let claims = with_claim(good_claims(), "aud", json!("someone-else"));
        assert_refused(&app, &format!("Bearer {}", hs256(JWT_SECRET, &claims))).await;
    }

    async fn alg_none_token_is_401(app: TestApp) {
        let header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = base64url(good_claims().to_string().as_bytes());
        assert_refused(&app, &format!("Bearer {header}.{claims}.")).await;
    }

    async fn token_with_unknown_role_is_401(app: TestApp) {
        let claims = with_claim(good_claims(), "roles", json!(["admin", "superuser"]));
        assert_refused(&app, &format!("Bearer {}", hs256(JWT_SECRET, &claims))).await;
    }

    async fn basic_authorization_is_401(app: TestApp) {
        let credentials = base64url(b"admin:hemligt");
        assert_refused(&app, &format!("Basic {credentials}")).await;
    }

    // 4. Organizations.

    async fn root_organization_exists_from_the_start(app: TestApp) {
        let token = app.token(ROOT_ORGANIZATION_ID, &[Role::Reader]);
        let root = app
            .get(&format!("/v1/organizations/{ROOT_ORGANIZATION_ID}"), Some(&token))
            .await
            .ok();
        assert_eq!(root["id"], "00000000-0000-0000-0000-000000000000");
        assert_eq!(root["code"], "SE");
        assert_eq!(root["kind"], "national");
        assert_eq!(root["name"], "Sverige");
        assert!(root["parent_id"].is_null());
        let by_code = app.get("/v1/organizations?code=SE", Some(&token)).await.ok();
        assert_eq!(ids_of(&by_code), [ROOT_ORGANIZATION_ID]);
    }

    async fn organization_create_answers_201_with_location_and_etag(app: TestApp) {
        let before = app.head_seq().await;
        let body = json!({"name": "Region Jämtland Härjedalen", "kind": "region", "code": "23"});
        let reply = app.post("/v1/organizations", Some(&app.root_token()), &body).await;
        let created = reply.created();
        let id = created["id"].as_str().expect("id").to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "ids are UUIDs");
        assert_eq!(
            reply.header("location").as_deref(),
            Some(format!("/v1/organizations/{id}").as_str())
        );
        assert_eq!(reply.header("etag").as_deref(), Some("\"1\""));
        assert_eq!(created["name"], "Region Jämtland Härjedalen");
        assert_eq!(created["kind"], "region");
        assert_eq!(created["code"], "23");
        assert_eq!(
            created["parent_id"], ROOT_ORGANIZATION_ID,
            "the parent defaults to the root"
        );

        let events = app.events_after(before).await;
        assert_eq!(events.len(), 1, "one create appends one event: {events:?}");
        assert_eq!(events[0]["type"], "organization.created");
        assert_eq!(events[0]["subject"], json!({"type": "organization", "id": id}));
        assert_eq!(events[0]["organization_id"], id);
        assert_eq!(events[0]["data"]["snapshot"]["name"], "Region Jämtland Härjedalen");
    }

    async fn organization_is_read_by_id(app: TestApp) {
        let region = create_org(&app, "Region Jämtland Härjedalen", "region", Some("23"), None).await;
        let municipality = create_org(&app, "Krokoms kommun", "municipality", Some("2309"), Some(&region)).await;
        // The directory is readable with any valid token, also outside the token's scope.
        let token = app.token(&municipality, &[Role::Reader]);
        let reply = app.get(&format!("/v1/organizations/{region}"), Some(&token)).await;
        let organization = reply.ok();
        // Revision 1, no indicator stale for it.
        assert_eq!(reply.header("etag").as_deref(), Some("\"1.0\""));
        assert_eq!(organization["stale"], false);
        assert_eq!(organization["id"], region);
        assert_eq!(organization["name"], "Region Jämtland Härjedalen");
        let child = app
            .get(&format!("/v1/organizations/{municipality}"), Some(&token))
            .await
            .ok();
        assert_eq!(child["parent_id"], region);
        assert_eq!(child["code"], "2309");
    }

    async fn organization_patch_honours_if_match(app: TestApp) {
        let id = create_org(&app, "Krokom", "municipality", Some("2309"), None).await;
        let path = url(&app, &format!("/v1/organizations/{id}"));
        let token = app.root_token();
        let before = app.head_seq().await;

        let stale = send(
            app.client
                .patch(&path)
                .bearer_auth(&token)
                .header("If-Match", "\"7\"")
                .json(&json!({"name": "Krokoms kommun"})),
        )
        .await;
        assert_eq!(stale.problem(412)["type"], "/problems/precondition-failed");
        assert_nothing_written(&app, before).await;
        assert_eq!(
            app.get(&format!("/v1/organizations/{id}"), Some(&token)).await.ok()["name"],
            "Krokom"
        );

        let right = send(
            app.client
                .patch(&path)
                .bearer_auth(&token)
                .header("If-Match", "\"1\"")
                .json(&json!({"name": "Krokoms kommun"})),
        )
        .await;
        let updated = right.ok();
        assert_eq!(updated["name"], "Krokoms kommun");
        assert_eq!(updated["revision"], 2);
        assert_eq!(right.header("etag").as_deref(), Some("\"2\""));

        // The old tag is stale now.
        let again = send(
            app.client
                .patch(&path)
                .bearer_auth(&token)
                .header("If-Match", "\"1\"")
                .json(&json!({"name": "Krokom"})),
        )
        .await;
        again.problem(412);

        let events = app.events_after(before).await;
        assert_eq!(events.len(), 1, "one update appends one event: {events:?}");
        assert_eq!(events[0]["type"], "organization.updated");
        assert_eq!(events[0]["subject"]["id"], id);
        assert_eq!(events[0]["data"]["changes"], json!(["name"]));
        assert_eq!(events[0]["data"]["snapshot"]["name"], "Krokoms kommun");
    }

    async fn duplicate_organization_code_is_409_conflict(app: TestApp) {
        create_org(&app, "Krokoms kommun", "municipality", Some("2309"), None).await;
        let before = app.head_seq().await;
        let body = json!({"name": "Krokom igen", "kind": "municipality", "code": "2309"});
        let problem = app
            .post("/v1/organizations", Some(&app.root_token()), &body)
            .await
            .problem(409);
        assert_eq!(problem["type"], "/problems/conflict");
        assert_nothing_written(&app, before).await;

        let other = create_org(&app, "Bergs kommun", "municipality", Some("2326"), None).await;
        let before = app.head_seq().await;
        let patch = app
            .patch(
                &format!("/v1/organizations/{other}"),
                Some(&app.root_token()),
                &json!({"code": "2309"}),
            )
            .await;
        assert_eq!(patch.problem(409)["type"], "/problems/conflict");
        assert_nothing_written(&app, before).await;
    }

    async fn member_ids_on_a_non_network_is_422(app: TestApp) {
        let member = create_org(&app, "Krokoms kommun", "municipality", Some("2309"), None).await;
        let before = app.head_seq().await;
        let body = json!({"name": "Region Jämtland Härjedalen", "kind": "region", "member_ids": [member]});
        let problem = app
            .post("/v1/organizations", Some(&app.root_token()), &body)
            .await
            .problem(422);
        assert_eq!(problem["type"], "/problems/validation");
        assert_eq!(error_fields(&problem), ["member_ids"]);
        assert_nothing_written(&app, before).await;

        // A network takes the same members.
        let network = json!({"name": "Jämtlandsnätverket", "kind": "network", "member_ids": [member]});
        let created = app
            .post("/v1/organizations", Some(&app.root_token()), &network)
            .await
            .created();
        assert_eq!(created["member_ids"], json!([member]));
    }

    async fn organization_list_cursor_paging_visits_each_exactly_once(app: TestApp) {
        let tree = tree(&app).await;
        let network = create_org(&app, "Länsnätverket", "network", None, None).await;
        let token = app.root_token();
        let all = ids_of(&app.get("/v1/organizations?limit=500", Some(&token)).await.ok());
        let paged = organization_ids_paged(&app, &token, 1).await;
        let unique: HashSet<&String> = paged.iter().collect();
        assert_eq!(unique.len(), paged.len(), "no organization is listed twice: {paged:?}");
        assert_eq!(paged, all, "paging visits the same organizations in the same order");
        for id in [
            ROOT_ORGANIZATION_ID,
            tree.region.as_str(),
            tree.municipality.as_str(),
            tree.sibling.as_str(),
            network.as_str(),
        ] {
            assert!(paged.iter().any(|listed| listed == id), "{id} is listed");
        }
        assert_eq!(paged.len(), 5);
        assert_eq!(organization_ids_paged(&app, &token, 2).await, all);
    }

    async fn organization_list_filters_by_kind_and_code(app: TestApp) {
        let tree = tree(&app).await;
        let token = app.token(&tree.municipality, &[Role::Reader]);
        let municipalities = app.get("/v1/organizations?kind=municipality", Some(&token)).await.ok();
        let ids = ids_of(&municipalities);
        assert_eq!(ids.len(), 2, "{municipalities}");
        assert!(ids.contains(&tree.municipality) && ids.contains(&tree.sibling));
        for item in municipalities["items"].as_array().expect("items") {
            assert_eq!(item["kind"], "municipality");
        }
        let regions = app.get("/v1/organizations?kind=region", Some(&token)).await.ok();
        assert_eq!(ids_of(&regions), [tree.region.as_str()]);
        let by_code = app.get("/v1/organizations?code=2380", Some(&token)).await.ok();
        assert_eq!(ids_of(&by_code), [tree.sibling.as_str()]);
        let nothing = app.get("/v1/organizations?code=9999", Some(&token)).await.ok();
        assert!(ids_of(&nothing).is_empty());
        assert!(nothing["next_cursor"].is_null());
        app.get("/v1/organizations?kind=planet", Some(&token))
            .await
            .problem(400);
    }

    async fn organization_q_matches_swedish_letters(app: TestApp) {
        let tree = tree(&app).await;
        let token = app.root_token();
        // q=östersund, q=ÖSTERSUND: the name is "Östersunds kommun".
        for q in ["%C3%B6stersund", "%C3%96STERSUND", "%C3%96stersunds%20kommun"] {
            let found = app.get(&format!("/v1/organizations?q={q}"), Some(&token)).await.ok();
            assert_eq!(ids_of(&found), [tree.sibling.as_str()], "q={q}");
        }
        let found = app.get("/v1/organizations?q=j%C3%A4mtland", Some(&token)).await.ok();
        assert_eq!(ids_of(&found), [tree.region.as_str()]);
        let found = app.get("/v1/organizations?q=kommun", Some(&token)).await.ok();
        assert_eq!(ids_of(&found).len(), 2);
        let none = app.get("/v1/organizations?q=ostersund", Some(&token)).await.ok();
        assert!(ids_of(&none).is_empty(), "ö is not o");
    }

    async fn anonymous_organization_list_is_401(app: TestApp) {
        let reply = app.get("/v1/organizations", None).await;
        assert_eq!(reply.problem(401)["type"], "/problems/unauthorized");
        assert!(reply.header("www-authenticate").is_some());
        app.get(&format!("/v1/organizations/{ROOT_ORGANIZATION_ID}"), None)
            .await
            .problem(401);
    }

    async fn municipality_admin_cannot_create_an_organization_under_the_region(app: TestApp) {
        let tree = tree(&app).await;
        let admin = app.token(&tree.municipality, &Role::ALL);
        let before = app.head_seq().await;
        let body = json!({"name": "Bergs kommun", "kind": "municipality", "code": "2326", "parent_id": tree.region});
        let problem = app.post("/v1/organizations", Some(&admin), &body).await.problem(403);
        assert_eq!(problem["type"], "/problems/forbidden");
        let patch = app
            .patch(
                &format!("/v1/organizations/{}", tree.region),
                Some(&admin),
                &json!({"name": "Region X"}),
            )
            .await;
        patch.problem(403);
        assert_nothing_written(&app, before).await;

        // Under itself it may.
        let body = json!({"name": "Socialförvaltningen", "kind": "administration", "parent_id": tree.municipality});
        app.post("/v1/organizations", Some(&admin), &body).await.created();
    }

    // 5. Authorization scope.

    async fn region_editor_creates_a_plan_for_a_child_municipality(app: TestApp) {
        let tree = tree(&app).await;
        let editor = app.token(&tree.region, &[Role::Editor]);
        let before = app.head_seq().await;
        let plan = app
            .post(
                "/v1/plans",
                Some(&editor),
                &plan_body(&tree.municipality, "Handlingsplan Krokom"),
            )
            .await
            .created();
        assert_eq!(plan["organization_id"], tree.municipality);
        assert_eq!(plan["status"], "draft");
        let events = app.events_after(before).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["type"], "plan.created");
        assert_eq!(events[0]["organization_id"], tree.municipality);
        assert_eq!(events[0]["actor"]["organization_id"], tree.region);
    }

    async fn municipality_editor_cannot_create_a_plan_for_the_region(app: TestApp) {
        let tree = tree(&app).await;
        let editor = app.token(&tree.municipality, &[Role::Reader, Role::Editor]);
        let before = app.head_seq().await;
        let problem = app
            .post("/v1/plans", Some(&editor), &plan_body(&tree.region, "Regional plan"))
            .await
            .problem(403);
        assert_eq!(problem["type"], "/problems/forbidden");
        assert_nothing_written(&app, before).await;
        // A reader of the region may not either: creating needs `editor`.
        let reader = app.token(&tree.region, &[Role::Reader]);
        app.post("/v1/plans", Some(&reader), &plan_body(&tree.region, "Regional plan"))
            .await
            .problem(403);
        assert_nothing_written(&app, before).await;
    }

    async fn sibling_sees_a_draft_only_once_it_is_adopted(app: TestApp) {
        let tree = tree(&app).await;
        let plan = app.create_plan(&tree.municipality, "Handlingsplan Krokom").await;
        let path = format!("/v1/plans/{plan}");
        let sibling_reader = app.token(&tree.sibling, &[Role::Reader]);
        let own_reader = app.token(&tree.municipality, &[Role::Reader]);
        assert_eq!(app.get(&path, Some(&own_reader)).await.ok()["status"], "draft");
        assert_eq!(
            app.get(&path, Some(&sibling_reader)).await.problem(404)["type"],
            "/problems/not-found"
        );
        app.get(&path, None).await.problem(404);
        let listed = app
            .get(
                &format!("/v1/plans?organization_id={}", tree.municipality),
                Some(&sibling_reader),
            )
            .await
            .ok();
        assert!(
            ids_of(&listed).is_empty(),
            "a hidden draft is not listed either: {listed}"
        );

        let adoption = json!({"to": "adopted", "decided_by": "KF", "decided_on": "2026-01-15"});
        let adopted = app
            .post(&format!("{path}/transitions"), Some(&app.root_token()), &adoption)
            .await
            .ok();
        assert_eq!(adopted["status"], "adopted");

        let seen = app.get(&path, Some(&sibling_reader)).await.ok();
        assert_eq!(seen["status"], "adopted");
        assert_eq!(seen["id"], plan);
        assert_eq!(
            app.get(&path, None).await.ok()["status"],
            "adopted",
            "adopted plans are public material"
        );
        let listed = app
            .get(
                &format!("/v1/plans?organization_id={}", tree.municipality),
                Some(&sibling_reader),
            )
            .await
            .ok();
        assert_eq!(ids_of(&listed), [plan.as_str()]);
        // Seeing is not editing.
        let sibling_editor = app.token(&tree.sibling, &[Role::Editor]);
        app.patch(&path, Some(&sibling_editor), &json!({"owner": "Kommunchef"}))
            .await
            .problem(403);
    }

    async fn network_member_edits_a_joint_plan(app: TestApp) {
        let tree = tree(&app).await;
        let network = json!({"name": "Länsgemensam arbetsgrupp", "kind": "network", "member_ids": [tree.municipality]});
        let network = app
            .post("/v1/organizations", Some(&app.root_token()), &network)
            .await
            .created()["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let plan = app.create_plan(&network, "Gemensam handlingsplan").await;
        let path = format!("/v1/plans/{plan}");

        let member_editor = app.token(&tree.municipality, &[Role::Editor]);
        let before = app.head_seq().await;
        let changed = app
            .patch(
                &path,
                Some(&member_editor),
                &json!({"title": "Gemensam handlingsplan 2026"}),
            )
            .await
            .ok();
        assert_eq!(changed["title"], "Gemensam handlingsplan 2026");
        assert_eq!(changed["revision"], 2);
        let events = app.events_after(before).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["type"], "plan.updated");
        assert_eq!(events[0]["organization_id"], network);

        // A member's editor may also create plans for the network.
        app.post(
            "/v1/plans",
            Some(&member_editor),
            &plan_body(&network, "Ännu en gemensam plan"),
        )
        .await
        .created();

        // An organization that is no member may not even see the draft.
        let outsider = app.token(&tree.sibling, &[Role::Reader, Role::Editor]);
        app.patch(&path, Some(&outsider), &json!({"title": "Kapad"}))
            .await
            .problem(404);
        app.get(&path, Some(&outsider)).await.problem(404);
        assert_eq!(
            app.get(&path, Some(&member_editor)).await.ok()["title"],
            "Gemensam handlingsplan 2026"
        );
    }

    // 6. The event feed.

    async fn events_feed_without_token_is_401(app: TestApp) {
        app.create_plan(ROOT_ORGANIZATION_ID, "Handlingsplan").await;
        let reply = app.get("/v1/events", None).await;
        assert_eq!(reply.problem(401)["type"], "/problems/unauthorized");
        assert!(reply.header("www-authenticate").is_some());
        app.get("/v1/events?after=0&types=plan.created", None)
            .await
            .problem(401);
    }

    async fn events_types_filter_returns_only_that_type(app: TestApp) {
        let tree = tree(&app).await;
        app.create_plan(&tree.municipality, "Plan Krokom").await;
        app.create_plan(&tree.region, "Plan regionen").await;
        let token = app.root_token();
        let plans = events_of(&app.get("/v1/events?types=plan.created", Some(&token)).await.ok());
        assert_eq!(plans.len(), 2, "{plans:?}");
        assert!(plans.iter().all(|event| event["type"] == "plan.created"));
        let both = events_of(
            &app.get("/v1/events?types=plan.created,organization.created", Some(&token))
                .await
                .ok(),
        );
        assert_eq!(both.len(), 5, "{both:?}");
        assert!(both
            .iter()
            .all(|event| event["type"] == "plan.created" || event["type"] == "organization.created"));
        let seqs: Vec<i64> = both.iter().map(|event| event["seq"].as_i64().expect("seq")).collect();
        assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "oldest first: {seqs:?}");
        let none = app.get("/v1/events?types=plan.status_changed", Some(&token)).await.ok();
        assert!(events_of(&none).is_empty());
        assert_eq!(
            none["next_after"].as_i64(),
            Some(app.head_seq().await),
            "next_after moves past filtered events"
        );
    }

    async fn events_unknown_type_is_400(app: TestApp) {
        let token = app.root_token();
        for types in ["plan.exploded", "nonsense", "plan.created,galaxy.created"] {
            let problem = app
                .get(&format!("/v1/events?types={types}"), Some(&token))
                .await
                .problem(400);
            assert_eq!(problem["type"], "/problems/bad-request", "{types}");
        }
    }

    async fn events_organization_id_filter(app: TestApp) {
        let tree = tree(&app).await;
        app.create_plan(&tree.municipality, "Plan Krokom").await;
        app.create_plan(&tree.sibling, "Plan Östersund").await;
        app.create_plan(&tree.region, "Plan regionen").await;
        let token = app.root_token();
        let page = app
            .get(
                &format!("/v1/events?organization_id={}", tree.municipality),
                Some(&token),
            )
            .await
            .ok();
        let events = events_of(&page);
        let types: Vec<&str> = events
            .iter()
            .map(|event| event["type"].as_str().expect("type"))
            .collect();
        assert_eq!(types, ["organization.created", "plan.created"]);
        assert!(events
            .iter()
            .all(|event| event["organization_id"] == tree.municipality.as_str()));
        app.get("/v1/events?organization_id=not-an-id", Some(&token))
            .await
            .problem(400);
    }

    async fn municipality_reader_sees_only_its_scope_and_next_after_moves_past(app: TestApp) {
        let tree = tree(&app).await;
        let own_plan = app.create_plan(&tree.municipality, "Plan Krokom").await;
        app.create_plan(&tree.sibling, "Plan Östersund").await;
        app.create_plan(&tree.region, "Plan regionen").await;
        let head = app.head_seq().await;

        let reader = app.token(&tree.municipality, &[Role::Reader]);
        let page = app.get("/v1/events?after=0", Some(&reader)).await.ok();
        let events = events_of(&page);
        assert_eq!(events.len(), 2, "only the municipality's own events: {events:?}");
        assert!(
            events
                .iter()
                .all(|event| event["organization_id"] == tree.municipality.as_str()),
            "{events:?}"
        );
        assert!(events.iter().any(|event| event["subject"]["id"] == own_plan.as_str()));
        let last_visible = events.last().expect("an event")["seq"].as_i64().expect("seq");
        let next_after = page["next_after"].as_i64().expect("next_after");
        assert!(
            next_after > last_visible,
            "next_after moves past the events it cannot see"
        );
        assert_eq!(next_after, head);

        let again = app
            .get(&format!("/v1/events?after={next_after}"), Some(&reader))
            .await
            .ok();
        assert!(events_of(&again).is_empty(), "nothing new was written: {again}");
        assert_eq!(again["next_after"].as_i64(), Some(next_after));

        // Page by page the reader meets the same events, each once.
        let mut after = 0;
        let mut paged = Vec::new();
        for _ in 0..50 {
            let page = app
                .get(&format!("/v1/events?after={after}&limit=1"), Some(&reader))
                .await
                .ok();
            let batch = events_of(&page);
            after = page["next_after"].as_i64().expect("next_after");
            if batch.is_empty() {
                break;
            }
            paged.extend(batch.iter().map(|event| event["seq"].as_i64().expect("seq")));
        }
        let seqs: Vec<i64> = events.iter().map(|event| event["seq"].as_i64().expect("seq")).collect();
        assert_eq!(paged, seqs);
        assert_eq!(after, head);

        // What is written next in scope shows up after next_after.
        app.create_plan(&tree.municipality, "Plan Krokom 2").await;
        let newer = events_of(
            &app.get(&format!("/v1/events?after={next_after}"), Some(&reader))
                .await
                .ok(),
        );
        assert_eq!(newer.len(), 1);
        assert_eq!(newer[0]["type"], "plan.created");
    }

    // 7. Service endpoints.

    async fn healthz_answers_ok(app: TestApp) {
        let reply = app.get("/healthz", None).await;
        assert_eq!(reply.ok(), json!({"status": "ok"}));
    }

    async fn readyz_answers_ready(app: TestApp) {
        let reply = app.get("/readyz", None).await;
        assert_eq!(reply.ok()["status"], "ready");
    }

    async fn metrics_expose_request_counts_and_the_log_head(app: TestApp) {
        app.get("/healthz", None).await.ok();
        create_org(&app, "Krokoms kommun", "municipality", Some("2309"), None).await;
        let reply = app.get("/metrics", None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert!(reply
            .header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain"));
        assert!(reply.text.contains("planledger_http_requests_total"), "{}", reply.text);
        assert!(reply.text.contains("planledger_event_log_head_seq"), "{}", reply.text);
        let healthz_counted = reply.text.lines().any(|line| {
            line.starts_with("planledger_http_requests_total")
                && line.contains("route=\"/healthz\"")
                && line.contains("status=\"200\"")
        });
        assert!(
            healthz_counted,
            "requests are counted by route and status: {}",
            reply.text
        );
        let head = app.head_seq().await;
        assert!(
            reply
                .text
                .lines()
                .any(|line| line == format!("planledger_event_log_head_seq {head}")),
            "the log head gauge is the head seq {head}: {}",
            reply.text
        );
    }

    async fn request_id_is_echoed_or_generated(app: TestApp) {
        let sent = send(
            app.client
                .get(url(&app, "/healthz"))
                .header("X-Request-Id", "krokom-0001"),
        )
        .await;
        assert_eq!(sent.header("x-request-id").as_deref(), Some("krokom-0001"));
        let problem = send(
            app.client
                .get(url(&app, "/v1/nothing-here"))
                .header("X-Request-Id", "krokom-0002"),
        )
        .await;
        assert_eq!(
            problem.header("x-request-id").as_deref(),
            Some("krokom-0002"),
            "errors echo it too"
        );

        let first = app
            .get("/healthz", None)
            .await
            .header("x-request-id")
            .expect("a generated request id");
        let second = app
            .get("/healthz", None)
            .await
            .header("x-request-id")
            .expect("a generated request id");
        assert!(!first.is_empty());
        assert_ne!(first, second, "each request gets its own id");
    }

    async fn openapi_json_is_3_1_with_the_transitions_path(app: TestApp) {
        let reply = app.get("/openapi.json", None).await;
        assert!(reply
            .header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"));
        let document = reply.ok();
        let version = document["openapi"].as_str().expect("openapi version");
        assert!(version.starts_with("3.1"), "OpenAPI 3.1, got {version}");
        let paths = document["paths"].as_object().expect("paths");
        assert!(
            paths.contains_key("/v1/plans/{id}/transitions"),
            "{:?}",
            paths.keys().collect::<Vec<_>>()
        );
        assert!(paths.contains_key("/v1/organizations"));
        assert!(paths.contains_key("/v1/events"));
    }

    async fn docs_serve_an_html_page(app: TestApp) {
        let reply = send(app.client.get(url(&app, "/docs/"))).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert!(reply
            .header("content-type")
            .unwrap_or_default()
            .starts_with("text/html"));
        assert!(reply.text.to_lowercase().contains("swagger"), "{}", reply.text);
        // `/docs` itself leads there (reqwest follows the redirect).
        let redirected = app.request(Method::GET, "/docs", None, None).await;
        assert_eq!(redirected.status, StatusCode::OK);
        assert!(redirected.text.to_lowercase().contains("swagger"));
    }
}
