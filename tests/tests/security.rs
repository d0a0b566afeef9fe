//! Tokens of this service and of a region's identity provider, API clients
//! and their client-credentials tokens, and the integration conventions:
//! If-None-Match and Idempotency-Key.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use planledger_api::auth::IdentityProvider;
use planledger_domain::ids::ROOT_ORGANIZATION_ID;
use planledger_domain::permissions::Role;
use planledger_tests::{backend_tests, send, Backend, Reply, TestApp, AUDIENCE};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};
use sha2::Digest;

const IDP_ISSUER: &str = "https://idp.region.example/";
const RSA_PUBLIC: &[u8] = include_bytes!("../fixtures/idp-rsa-public.pem");
const RSA_PRIVATE: &[u8] = include_bytes!("../fixtures/idp-rsa-private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("../fixtures/idp-ec-public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("../fixtures/idp-ec-private.pem");

fn with_identity_provider(backend: Backend, public_key: &[u8]) -> TestApp {
    let provider = IdentityProvider::from_pem(IDP_ISSUER.into(), public_key).expect("test key");
    TestApp::spawn_with(backend, |settings| settings.jwt.identity_provider = Some(provider))
        .expect("backend configured")
}

fn claims(issuer: &str, exp_offset: i64, nbf_offset: Option<i64>) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "sub": "anna.kerstin", "org": ROOT_ORGANIZATION_ID, "roles": ["reader", "admin"],
        "iss": issuer, "aud": AUDIENCE, "exp": now + exp_offset, "iat": now
    });
    if let Some(offset) = nbf_offset {
        claims["nbf"] = json!(now + offset);
    }
    claims
}

fn sign(algorithm: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, key).expect("sign")
}

async fn organizations_with(app: &TestApp, token: &str) -> Reply {
    app.get("/v1/organizations", Some(token)).await
}

fn assert_invalid_token(reply: &Reply) {
    reply.problem(401);
    let challenge = reply.header("www-authenticate").expect("challenge");
    assert!(challenge.contains("invalid_token"), "{challenge}");
}

async fn send_form(app: &TestApp, body: &str, basic: Option<(&str, &str)>) -> Reply {
    let mut request = app
        .client
        .post(format!("{}/v1/oauth/token", app.base_url))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    send(request).await
}

async fn register_client(app: &TestApp, organization: &str, roles: &[&str]) -> Value {
    let body = json!({"organization_id": organization, "name": "Verksamhetssystem", "roles": roles});
    app.post("/v1/clients", Some(&app.root_token()), &body).await.created()
}

async fn post_with_key(app: &TestApp, path: &str, key: &str, body: &Value) -> Reply {
    let request = app
        .client
        .post(format!("{}{path}", app.base_url))
        .header(AUTHORIZATION, format!("Bearer {}", app.root_token()))
        .header("Idempotency-Key", key)
        .json(body);
    send(request).await
}

backend_tests! {
    async fn identity_provider_tokens_are_accepted_with_their_pinned_algorithm(app: TestApp) {
        drop(app);
        for (public, private, algorithm) in [(RSA_PUBLIC, RSA_PRIVATE, Algorithm::RS256), (EC_PUBLIC, EC_PRIVATE, Algorithm::ES256)] {
            let app = with_identity_provider(backend_of_this_module(), public);
            let key = match algorithm {
                Algorithm::RS256 => EncodingKey::from_rsa_pem(private).expect("rsa"),
                _ => EncodingKey::from_ec_pem(private).expect("ec"),
            };
            organizations_with(&app, &sign(algorithm, &key, &claims(IDP_ISSUER, 600, None))).await.ok();
            // This service's own tokens keep working beside the provider's.
            organizations_with(&app, &app.root_token()).await.ok();
            assert_invalid_token(&organizations_with(&app, &sign(algorithm, &key, &claims(IDP_ISSUER, -120, None))).await);
            assert_invalid_token(&organizations_with(&app, &sign(algorithm, &key, &claims(IDP_ISSUER, 600, Some(300)))).await);
            let mut wrong_audience = claims(IDP_ISSUER, 600, None);
            wrong_audience["aud"] = json!("another-service");
            assert_invalid_token(&organizations_with(&app, &sign(algorithm, &key, &wrong_audience)).await);
            let own_secret = EncodingKey::from_secret(planledger_tests::JWT_SECRET.as_bytes());
            // HS256 under the provider's name, even with this service's own secret: refused.
            assert_invalid_token(&organizations_with(&app, &sign(Algorithm::HS256, &own_secret, &claims(IDP_ISSUER, 600, None))).await);
            // The classic confusion: the public key used as an HMAC secret.
            let confused = EncodingKey::from_secret(public);
            assert_invalid_token(&organizations_with(&app, &sign(Algorithm::HS256, &confused, &claims(IDP_ISSUER, 600, None))).await);
            // A provider-signed token naming another issuer is checked as this service's own, and fails.
            assert_invalid_token(&organizations_with(&app, &sign(algorithm, &key, &claims("planledger-test", 600, None))).await);
        }
    }

    async fn own_tokens_must_be_valid_now(app: TestApp) {
        let key = EncodingKey::from_secret(planledger_tests::JWT_SECRET.as_bytes());
        organizations_with(&app, &sign(Algorithm::HS256, &key, &claims("planledger-test", 600, None))).await.ok();
        assert_invalid_token(&organizations_with(&app, &sign(Algorithm::HS256, &key, &claims("planledger-test", 600, Some(600)))).await);
        assert_invalid_token(&organizations_with(&app, &sign(Algorithm::HS256, &key, &claims("planledger-test", -600, None))).await);
        let other = EncodingKey::from_secret(b"another-secret-that-is-long-enough-0123456789");
        assert_invalid_token(&organizations_with(&app, &sign(Algorithm::HS256, &other, &claims("planledger-test", 600, None))).await);
        let hs512 = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims("planledger-test", 600, None), &key).expect("sign");
        assert_invalid_token(&organizations_with(&app, &hs512).await);
    }

    async fn an_api_client_gets_short_lived_tokens_with_its_org_and_roles(app: TestApp) {
        let region = app.create_organization("Region", "region", None).await;
        let issued = register_client(&app, &region, &["reader", "editor"]).await;
        let (id, secret) = (issued["client_id"].as_str().expect("id"), issued["client_secret"].as_str().expect("secret"));
        assert_eq!(issued["roles"], json!(["reader", "editor"]));
        let listed = app.get("/v1/clients", Some(&app.root_token())).await.ok();
        assert!(!listed.to_string().contains(secret), "the secret is never shown again");
        assert!(!listed.to_string().contains("secret_hash"));

        let form = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
        let token = send_form(&app, &form, None).await.ok();
        assert_eq!(token["token_type"], "Bearer");
        assert_eq!(token["expires_in"], 900);
        let basic = send_form(&app, "grant_type=client_credentials", Some((id, secret))).await.ok();
        let access = basic["access_token"].as_str().expect("token");

        // The token acts for the client's organization with the client's roles.
        let plan = json!({"organization_id": region, "title": "Plan från verksamhetssystemet"});
        let created = app.post("/v1/plans", Some(access), &plan).await.created();
        let events = app.events_after(0).await;
        let event = events.iter().find(|e| e["subject"]["id"] == created["id"]).expect("plan.created");
        assert_eq!(event["actor"]["sub"], format!("client:{id}"));
        let adopt = json!({"to": "adopted", "decided_by": "KS", "decided_on": "2026-01-01"});
        let plan_id = created["id"].as_str().expect("id");
        app.post(&format!("/v1/plans/{plan_id}/transitions"), Some(access), &adopt).await.problem(403);
        let elsewhere = json!({"organization_id": ROOT_ORGANIZATION_ID, "title": "Utanför"});
        app.post("/v1/plans", Some(access), &elsewhere).await.problem(403);
    }

    async fn the_token_endpoint_answers_rfc_6749_errors(app: TestApp) {
        let issued = register_client(&app, ROOT_ORGANIZATION_ID, &["reader"]).await;
        let id = issued["client_id"].as_str().expect("id");
        let wrong = send_form(&app, &format!("grant_type=client_credentials&client_id={id}&client_secret=wrong"), None).await;
        assert_eq!(wrong.status.as_u16(), 401);
        assert_eq!(wrong.json()["error"], "invalid_client");
        assert!(wrong.header("www-authenticate").is_some());
        let grant = send_form(&app, &format!("grant_type=password&client_id={id}&client_secret=x"), None).await;
        assert_eq!((grant.status.as_u16(), grant.json()["error"].clone()), (400, json!("unsupported_grant_type")));
        let missing = send_form(&app, "grant_type=client_credentials", None).await;
        assert_eq!((missing.status.as_u16(), missing.json()["error"].clone()), (401, json!("invalid_client")));
        assert_eq!(missing.header("www-authenticate").as_deref(), Some("Basic"));
        let half = send_form(&app, &format!("grant_type=client_credentials&client_id={id}"), None).await;
        assert_eq!((half.status.as_u16(), half.json()["error"].clone()), (401, json!("invalid_client")));
        let no_grant = send_form(&app, &format!("client_id={id}&client_secret=x"), None).await;
        assert_eq!((no_grant.status.as_u16(), no_grant.json()["error"].clone()), (400, json!("invalid_request")));
        let unknown = send_form(&app, "grant_type=client_credentials&client_id=nobody&client_secret=x", None).await;
        assert_eq!(unknown.json()["error"], "invalid_client");
    }

    async fn a_revoked_client_gets_no_tokens_and_its_tokens_stop_working(app: TestApp) {
        let issued = register_client(&app, ROOT_ORGANIZATION_ID, &["reader"]).await;
        let (id, secret) = (issued["client_id"].as_str().expect("id"), issued["client_secret"].as_str().expect("secret"));
        let token = send_form(&app, "grant_type=client_credentials", Some((id, secret))).await.ok();
        let access = token["access_token"].as_str().expect("token").to_owned();
        organizations_with(&app, &access).await.ok();
        let revoked = app.request(reqwest::Method::DELETE, &format!("/v1/clients/{id}"), Some(&app.root_token()), None).await.ok();
        assert!(revoked["revoked_at"].is_string());
        assert_invalid_token(&organizations_with(&app, &access).await);
        let again = send_form(&app, "grant_type=client_credentials", Some((id, secret))).await;
        assert_eq!((again.status.as_u16(), again.json()["error"].clone()), (401, json!("invalid_client")));
        let types: Vec<String> = app.events_after(0).await.iter().map(|e| e["type"].as_str().expect("type").to_owned()).collect();
        assert_eq!(types, ["api_client.created", "api_client.status_changed"]);
        app.request(reqwest::Method::DELETE, &format!("/v1/clients/{id}"), Some(&app.root_token()), None).await.problem(409);
    }

    async fn only_admins_in_scope_manage_clients(app: TestApp) {
        let region = app.create_organization("Region", "region", None).await;
        let municipality = app.create_organization("Kommun", "municipality", Some(&region)).await;
        let issued = register_client(&app, &region, &["reader"]).await;
        let id = issued["id"].as_str().expect("id");
        let editor = app.token(&region, &[Role::Reader, Role::Editor]);
        let body = json!({"organization_id": region, "name": "System", "roles": ["reader"]});
        app.post("/v1/clients", Some(&editor), &body).await.problem(403);
        app.get("/v1/clients", Some(&editor)).await.problem(403);
        let municipal_admin = app.token(&municipality, &[Role::Admin]);
        assert_eq!(app.get("/v1/clients", Some(&municipal_admin)).await.ok()["items"], json!([]));
        app.request(reqwest::Method::DELETE, &format!("/v1/clients/{id}"), Some(&municipal_admin), None).await.problem(404);
        app.get("/v1/clients", None).await.problem(401);
    }

    async fn if_none_match_answers_304_until_the_resource_changes(app: TestApp) {
        let token = app.root_token();
        let region = app.create_organization("Region", "region", None).await;
        let plan = app.create_plan(&region, "Plan").await;
        let first = app.get(&format!("/v1/plans/{plan}"), Some(&token)).await;
        let tag = first.header("etag").expect("etag");
        let conditional = |tag: String| {
            let app = &app;
            let token = token.clone();
            let plan = plan.clone();
            async move {
                let response = app
                    .client
                    .get(format!("{}/v1/plans/{plan}", app.base_url))
                    .bearer_auth(token)
                    .header("If-None-Match", tag)
                    .send()
                    .await
                    .expect("sent");
                (response.status().as_u16(), response.headers().get("etag").map(|v| v.to_str().expect("text").to_owned()))
            }
        };
        assert_eq!(conditional(tag.clone()).await, (304, Some(tag.clone())));
        // A new goal changes the plan's answer, so its tag moves though the plan's revision does not.
        app.post(&format!("/v1/plans/{plan}/goals"), Some(&token), &json!({"title": "Mål"})).await.created();
        let (status, new_tag) = conditional(tag.clone()).await;
        assert_eq!(status, 200);
        assert_ne!(new_tag.as_deref(), Some(tag.as_str()));
        // The moved tag still names revision 1 for If-Match.
        let patch = app
            .client
            .patch(format!("{}/v1/plans/{plan}", app.base_url))
            .bearer_auth(&token)
            .header("If-Match", new_tag.expect("tag"))
            .json(&json!({"owner": "Regiondirektör"}))
            .send()
            .await
            .expect("sent");
        assert_eq!(patch.status().as_u16(), 200);
        let org = app.get(&format!("/v1/organizations/{region}"), Some(&token)).await;
        let org_tag = org.header("etag").expect("etag");
        let response = app
            .client
            .get(format!("{}/v1/organizations/{region}", app.base_url))
            .bearer_auth(&token)
            .header("If-None-Match", format!("\"999\", {org_tag}"))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status().as_u16(), 304);
    }

    async fn a_repeated_post_with_the_same_key_gets_the_first_answer(app: TestApp) {
        let body = json!({"name": "Krokoms kommun", "kind": "municipality", "code": "2309"});
        let first = post_with_key(&app, "/v1/organizations", "skapa-krokom-1", &body).await;
        let created = first.created();
        let head = app.head_seq().await;
        let again = post_with_key(&app, "/v1/organizations", "skapa-krokom-1", &body).await;
        assert_eq!(again.status.as_u16(), 201);
        assert_eq!(again.json(), created, "the first answer, not a second organization");
        assert_eq!(again.header("location"), first.header("location"));
        assert_eq!(again.header("idempotency-replayed").as_deref(), Some("true"));
        assert_eq!(app.head_seq().await, head, "no second write");
        let other = json!({"name": "Bergs kommun", "kind": "municipality", "code": "2326"});
        let reuse = post_with_key(&app, "/v1/organizations", "skapa-krokom-1", &other).await.problem(422);
        assert_eq!(reuse["errors"][0]["field"], "Idempotency-Key");
        // A failed request is kept too: a repeat gets the same refusal, not a new attempt.
        let duplicate = post_with_key(&app, "/v1/organizations", "skapa-krokom-2", &body).await;
        duplicate.problem(409);
        post_with_key(&app, "/v1/organizations", "skapa-krokom-2", &body).await.problem(409);
        post_with_key(&app, "/v1/organizations", "", &body).await.problem(400);
    }

    async fn a_repeat_while_the_first_runs_is_409(app: TestApp) {
        let now = chrono::Utc::now().naive_utc().format("%Y-%m-%d %H:%M:%S%.6f");
        let caller = format!("{ROOT_ORGANIZATION_ID}|test-user");
        let body = json!({"name": "Krokoms kommun", "kind": "municipality"});
        // The fingerprint of that very request: method, path and query, each ended by NUL, then the body.
        let mut hasher = sha2::Sha256::new();
        hasher.update(b"POST\0/v1/organizations\0\0");
        hasher.update(serde_json::to_vec(&body).expect("json"));
        let fingerprint = hex::encode(hasher.finalize());
        app.execute_sql(&format!(
            "INSERT INTO idempotency_keys (caller, idempotency_key, fingerprint, created_at) \
             VALUES ('{caller}', 'in-flight', '{fingerprint}', '{now}')"
        ))
        .expect("a request in flight");
        let head = app.head_seq().await;
        let running = post_with_key(&app, "/v1/organizations", "in-flight", &body).await.problem(409);
        assert!(running["detail"].as_str().is_some_and(|d| d.contains("still being processed")));
        assert_eq!(app.head_seq().await, head);
    }
}

/// The backend of the module a test runs in (for tests that start apps of their own).
fn backend_of_this_module() -> Backend {
    let name = std::thread::current().name().unwrap_or_default().to_owned();
    if name.starts_with("postgres::") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}
