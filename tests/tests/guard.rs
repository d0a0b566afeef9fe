//! The API's edge: CORS for the frontend, security headers, per-caller rate limits.

use planledger_domain::permissions::Role;
use planledger_tests::{backend_tests, send, Reply, TestApp, FRONTEND_ORIGIN};
use reqwest::{Method, RequestBuilder};

const OTHER_ORIGIN: &str = "https://evil.example";

fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> RequestBuilder {
    app.client
        .request(Method::OPTIONS, format!("{}{path}", app.base_url))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type, if-match, if-none-match, idempotency-key, x-request-id",
        )
}

fn get_from(app: &TestApp, path: &str, origin: &str) -> RequestBuilder {
    app.client
        .get(format!("{}{path}", app.base_url))
        .header("Origin", origin)
}

/// The comma-separated names of a header, lower-cased.
fn listed(reply: &Reply, name: &str) -> Vec<String> {
    reply
        .header(name)
        .unwrap_or_default()
        .split(',')
        .map(|entry| entry.trim().to_ascii_lowercase())
        .filter(|entry| !entry.is_empty())
        .collect()
}

fn assert_security_headers(reply: &Reply) {
    assert_eq!(reply.header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(reply.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(reply.header("referrer-policy").as_deref(), Some("no-referrer"));
}

/// Sends `path` as the caller `token` until it is refused; answers the refusal and how many passed.
async fn until_limited(app: &TestApp, path: &str, token: Option<&str>) -> (Reply, usize) {
    for passed in 0..20 {
        let reply = app.get(path, token).await;
        if reply.status.as_u16() == 429 {
            return (reply, passed);
        }
    }
    panic!("20 requests in a row to {path} were never limited");
}

/// An app that lets each caller 3 requests at once, then 1 a second.
fn limited_app(app: TestApp) -> TestApp {
    let backend = app.backend;
    drop(app);
    TestApp::spawn_with(backend, |settings| {
        settings.rate_limit = 1;
        settings.rate_burst = 3;
    })
    .expect("the backend is configured")
}

backend_tests! {
    async fn preflight_from_the_frontend_is_answered(app: TestApp) {
        let reply = send(preflight(&app, "/v1/plans", FRONTEND_ORIGIN, "PATCH")).await;
        assert!(matches!(reply.status.as_u16(), 200 | 204), "preflight answered {}: {}", reply.status, reply.text);
        assert_eq!(reply.header("access-control-allow-origin").as_deref(), Some(FRONTEND_ORIGIN));
        let methods = listed(&reply, "access-control-allow-methods");
        for method in ["get", "post", "patch", "put", "delete", "options"] {
            assert!(methods.contains(&method.to_owned()), "{method} missing from {methods:?}");
        }
        let headers = listed(&reply, "access-control-allow-headers");
        for header in ["authorization", "content-type", "if-match", "if-none-match", "idempotency-key", "x-request-id"] {
            assert!(headers.contains(&header.to_owned()), "{header} missing from {headers:?}");
        }
        assert_eq!(reply.header("access-control-max-age").as_deref(), Some("3600"));
    }

    async fn the_frontend_reads_the_headers_it_needs(app: TestApp) {
        let reply = send(get_from(&app, "/v1/plans", FRONTEND_ORIGIN)).await;
        reply.ok();
        assert_eq!(reply.header("access-control-allow-origin").as_deref(), Some(FRONTEND_ORIGIN));
        let exposed = listed(&reply, "access-control-expose-headers");
        for header in ["etag", "location", "retry-after", "x-request-id"] {
            assert!(exposed.contains(&header.to_owned()), "{header} missing from {exposed:?}");
        }
    }

    async fn another_origin_gets_no_cors_headers(app: TestApp) {
        let reply = send(get_from(&app, "/v1/plans", OTHER_ORIGIN)).await;
        reply.ok();
        assert_eq!(reply.header("access-control-allow-origin"), None);

        let refused = send(preflight(&app, "/v1/plans", OTHER_ORIGIN, "POST")).await;
        assert_eq!(refused.header("access-control-allow-origin"), None);
        assert_eq!(refused.problem(400)["type"], "/problems/bad-request");
        assert_security_headers(&refused);
    }

    async fn without_configured_origins_there_is_no_cors(app: TestApp) {
        let backend = app.backend;
        drop(app);
        let app = TestApp::spawn_with(backend, |settings| settings.cors_origins.clear())
            .expect("the backend is configured");
        let reply = send(preflight(&app, "/v1/plans", FRONTEND_ORIGIN, "GET")).await;
        assert_eq!(reply.header("access-control-allow-origin"), None);
        assert_eq!(reply.header("access-control-allow-methods"), None);
        let reply = send(get_from(&app, "/v1/plans", FRONTEND_ORIGIN)).await;
        reply.ok();
        assert_eq!(reply.header("access-control-allow-origin"), None);
    }

    async fn answers_carry_security_headers(app: TestApp) {
        let reply = app.get("/v1/plans", None).await;
        reply.ok();
        assert_security_headers(&reply);
        assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));

        let reply = app.get("/healthz", None).await;
        reply.ok();
        assert_security_headers(&reply);
    }

    async fn problems_carry_security_headers(app: TestApp) {
        let missing = format!("/v1/plans/{}", uuid::Uuid::new_v4());
        let reply = app.get(&missing, Some(&app.root_token())).await;
        reply.problem(404);
        assert_security_headers(&reply);
        assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));

        let reply = app.get("/no/such/path", None).await;
        reply.problem(404);
        assert_security_headers(&reply);
    }

    async fn the_docs_page_is_not_blocked_by_a_content_security_policy(app: TestApp) {
        let reply = app.get("/docs/", None).await;
        assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
        assert!(reply.text.contains("swagger"), "the Swagger UI page: {}", reply.text);
        assert_eq!(reply.header("content-security-policy"), None);
        assert_eq!(reply.header("x-content-type-options").as_deref(), Some("nosniff"));
        for asset in ["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/swagger-initializer.js"] {
            let reply = app.get(asset, None).await;
            assert_eq!(reply.status.as_u16(), 200, "{asset}");
            assert_eq!(reply.header("content-security-policy"), None, "{asset}");
        }
    }

    async fn a_caller_over_its_burst_gets_429_with_retry_after(app: TestApp) {
        let app = limited_app(app);
        let token = app.root_token();
        let (reply, passed) = until_limited(&app, "/v1/plans", Some(&token)).await;
        assert!(passed >= 3, "the burst of 3 passed ({passed} did)");
        let problem = reply.problem(429);
        assert_eq!(problem["type"], "/problems/too-many-requests");
        let retry_after: u64 = reply
            .header("retry-after")
            .and_then(|value| value.parse().ok())
            .expect("Retry-After in whole seconds");
        assert!(retry_after >= 1);
        assert_security_headers(&reply);

        // The frontend can read the refusal and when to retry.
        let reply = send(get_from(&app, "/v1/plans", FRONTEND_ORIGIN).bearer_auth(&token)).await;
        reply.problem(429);
        assert_eq!(reply.header("access-control-allow-origin").as_deref(), Some(FRONTEND_ORIGIN));
        assert!(listed(&reply, "access-control-expose-headers").contains(&"retry-after".to_owned()));
    }

    async fn another_caller_is_not_limited_by_the_first(app: TestApp) {
        let app = limited_app(app);
        let first = app.root_token();
        until_limited(&app, "/v1/plans", Some(&first)).await;

        let second = app.token(&uuid::Uuid::new_v4().to_string(), &[Role::Reader]);
        for _ in 0..3 {
            app.get("/v1/plans", Some(&second)).await.ok();
        }
        // Without a token the caller is its address, which the tokens' traffic did not count against.
        app.get("/v1/plans", None).await.ok();
        app.get("/v1/plans", Some(&first)).await.problem(429);
    }

    async fn an_invalid_token_counts_against_the_address(app: TestApp) {
        let app = limited_app(app);
        let (_, passed) = until_limited(&app, "/v1/plans", Some("not-a-token")).await;
        assert!(passed >= 3);
        app.get("/v1/plans", None).await.problem(429);
    }

    async fn forwarded_addresses_count_only_when_trusted(app: TestApp) {
        let backend = app.backend;
        let from = |app: &TestApp, address: &str| {
            app.client
                .get(format!("{}/v1/plans", app.base_url))
                .header("X-Forwarded-For", format!("203.0.113.50, {address}"))
        };
        // Untrusted: a client cannot dodge its limit by naming other addresses.
        let untrusted = limited_app(app);
        let mut statuses = Vec::new();
        for n in 0..6 {
            statuses.push(send(from(&untrusted, &format!("198.51.100.{n}"))).await.status.as_u16());
        }
        assert!(statuses.contains(&429), "{statuses:?}");
        drop(untrusted);

        let trusted = TestApp::spawn_with(backend, |settings| {
            settings.rate_limit = 1;
            settings.rate_burst = 3;
            settings.trust_forwarded = true;
        })
        .expect("the backend is configured");
        for _ in 0..3 {
            send(from(&trusted, "198.51.100.1")).await.ok();
        }
        send(from(&trusted, "198.51.100.1")).await.problem(429);
        send(from(&trusted, "198.51.100.2")).await.ok();
    }

    async fn service_endpoints_are_never_limited(app: TestApp) {
        let backend = app.backend;
        drop(app);
        let app = TestApp::spawn_with(backend, |settings| {
            settings.rate_limit = 1;
            settings.rate_burst = 1;
        })
        .expect("the backend is configured");
        for _ in 0..10 {
            app.get("/healthz", None).await.ok();
            app.get("/readyz", None).await.ok();
            assert_eq!(app.get("/metrics", None).await.status.as_u16(), 200);
        }
        app.get("/v1/plans", None).await.ok();
        app.get("/v1/plans", None).await.problem(429);
        app.get("/healthz", None).await.ok();
    }
}
