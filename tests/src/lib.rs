//! The end-to-end harness: the real server on a loopback port, over real
//! HTTP, each test with its own fresh database — a SQLite file in a temporary
//! folder, or a fresh schema in the PostgreSQL that
//! `PLANLEDGER_TEST_DATABASE_URL` names.
//!
//! [`backend_tests!`] turns each test into one per backend. Without
//! `PLANLEDGER_TEST_DATABASE_URL` the PostgreSQL variants say so and return;
//! under CI (`CI` set) they fail instead, so CI never skips them.

use diesel::connection::SimpleConnection;
use diesel::Connection;
use planledger_api::auth::{Authenticator, JwtSettings};
use planledger_api::webhooks::WebhookSettings;
use planledger_api::{Running, Settings};
use planledger_domain::ids::OrganizationId;
use planledger_domain::permissions::Role;
use planledger_persistence::{PoolOptions, Store};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

pub const JWT_SECRET: &str = "planledger-test-secret-0123456789abcdef";
pub const ISSUER: &str = "planledger-test";
pub const AUDIENCE: &str = "planledger-test";
/// The one origin the test server allows for CORS (a Vite dev server's).
pub const FRONTEND_ORIGIN: &str = "http://localhost:5173";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

enum TestDatabase {
    Sqlite {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
    },
    Postgres {
        base_url: String,
        schema: String,
        url: String,
    },
}

impl TestDatabase {
    fn url(&self) -> String {
        match self {
            TestDatabase::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
            TestDatabase::Postgres { url, .. } => url.clone(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { base_url, schema, .. } = self {
            if let Ok(mut conn) = diesel::PgConnection::establish(base_url) {
                let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

/// A running planledger with its own database.
pub struct TestApp {
    pub base_url: String,
    pub backend: Backend,
    pub client: reqwest::Client,
    authenticator: Authenticator,
    handle: Option<actix_web::dev::ServerHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Shared with the other processes started on it; dropped (and removed) with the last.
    database: Arc<TestDatabase>,
}

fn settings() -> Settings {
    Settings {
        bind: "127.0.0.1:0".into(),
        jwt: JwtSettings {
            secret: JWT_SECRET.as_bytes().to_vec(),
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            identity_provider: None,
            client_token_ttl: Duration::from_secs(900),
        },
        public_read: true,
        body_limit: 1024 * 1024,
        cors_origins: vec![FRONTEND_ORIGIN.into()],
        // Off, so that no test is limited by another's traffic; see `spawn_with`.
        rate_limit: 0,
        rate_burst: 0,
        trust_forwarded: false,
        // A short schedule (5 attempts in about a second) and a quick poll, so retries show in a test.
        webhooks: WebhookSettings {
            retry_schedule: [0, 100, 200, 300, 500].map(Duration::from_millis).to_vec(),
            poll_interval: Duration::from_millis(50),
            timeout: Duration::from_secs(2),
        },
    }
}

fn postgres_database() -> Option<TestDatabase> {
    let base_url = match std::env::var("PLANLEDGER_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the PostgreSQL tests: set PLANLEDGER_TEST_DATABASE_URL"
            );
            eprintln!("PLANLEDGER_TEST_DATABASE_URL is not set: this PostgreSQL test did not run");
            return None;
        }
    };
    let schema = format!("planledger_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = diesel::PgConnection::establish(&base_url).expect("PLANLEDGER_TEST_DATABASE_URL connects");
    conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("create test schema");
    let separator = if base_url.contains('?') { '&' } else { '?' };
    let url = format!("{base_url}{separator}options=-csearch_path%3D{schema}");
    Some(TestDatabase::Postgres { base_url, schema, url })
}

impl TestApp {
    /// Starts planledger on a fresh database; `None` when the backend is not configured.
    pub fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {})
    }

    /// Starts planledger on a fresh database with the test settings as `configure` changes them.
    pub fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Option<TestApp> {
        let database = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("planledger.db");
                TestDatabase::Sqlite { _dir: dir, path }
            }
            Backend::Postgres => postgres_database()?,
        };
        Some(Self::start_on(backend, Arc::new(database), configure))
    }

    /// A second planledger process on this one's database, as a region runs several behind a load balancer.
    pub fn another_process(&self) -> TestApp {
        Self::start_on(self.backend, self.database.clone(), |_| {})
    }

    /// Stops this planledger, as a restart does, and starts a new one on the same database with
    /// the test settings as `configure` changes them.
    pub fn restart_with(mut self, configure: impl FnOnce(&mut Settings)) -> TestApp {
        self.stop();
        Self::start_on(self.backend, self.database.clone(), configure)
    }

    /// Stops the server and waits for its runtime to end (its background tasks with it).
    fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            futures::executor::block_on(handle.stop(false));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn start_on(backend: Backend, database: Arc<TestDatabase>, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = settings();
        configure(&mut settings);
        let pool = PoolOptions {
            max_size: 8,
            connection_timeout: Duration::from_secs(10),
            ..PoolOptions::default()
        };
        let store = Store::open(&database.url(), pool).expect("open the test database");
        store.migrate().expect("migrate the test database");
        let (sender, receiver) = std::sync::mpsc::channel();
        let server_settings = settings.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let Running {
                    address,
                    handle,
                    server,
                } = planledger_api::start(&server_settings, store).expect("start");
                sender.send((address, handle)).expect("report address");
                server.await.expect("server ran");
            });
        });
        let (address, handle) = receiver.recv().expect("server started");
        TestApp {
            base_url: format!("http://{address}"),
            backend,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            authenticator: Authenticator::new(settings.jwt),
            handle: Some(handle),
            thread: Some(thread),
            database,
        }
    }

    /// A token for `organization` with `roles`, valid for an hour.
    pub fn token(&self, organization: &str, roles: &[Role]) -> String {
        let organization = OrganizationId::parse(organization).expect("organization id");
        self.authenticator
            .issue("test-user", &organization, roles, Duration::from_secs(3600))
            .expect("token")
    }

    /// A token of the root organization with every role.
    pub fn root_token(&self) -> String {
        self.token(planledger_domain::ids::ROOT_ORGANIZATION_ID, &Role::ALL)
    }

    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Reply::read(request.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    /// Runs SQL directly on the test database, beside the server.
    pub fn execute_sql(&self, sql: &str) -> Result<(), String> {
        let result = match &*self.database {
            TestDatabase::Sqlite { path, .. } => diesel::SqliteConnection::establish(&path.display().to_string())
                .map_err(|e| e.to_string())?
                .batch_execute(sql),
            TestDatabase::Postgres { url, .. } => diesel::PgConnection::establish(url)
                .map_err(|e| e.to_string())?
                .batch_execute(sql),
        };
        result.map_err(|e| e.to_string())
    }

    /// The log's head seq, read through the API.
    pub async fn head_seq(&self) -> i64 {
        let verification = self.get("/v1/events/verify", Some(&self.root_token())).await.ok();
        verification["head_seq"].as_i64().expect("head_seq")
    }

    /// Every event after `after`, through the feed's pages.
    pub async fn events_after(&self, mut after: i64) -> Vec<Value> {
        let token = self.root_token();
        let mut events = Vec::new();
        loop {
            let page = self
                .get(&format!("/v1/events?after={after}&limit=1000"), Some(&token))
                .await
                .ok();
            let batch = page["events"].as_array().expect("events").clone();
            let next = page["next_after"].as_i64().expect("next_after");
            if batch.is_empty() {
                return events;
            }
            events.extend(batch);
            after = next;
        }
    }

    /// Creates an organization under the root and answers its id.
    pub async fn create_organization(&self, name: &str, kind: &str, parent: Option<&str>) -> String {
        let body = serde_json::json!({"name": name, "kind": kind, "parent_id": parent});
        self.post("/v1/organizations", Some(&self.root_token()), &body)
            .await
            .created()["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// Creates a draft plan for `organization` and answers its id.
    pub async fn create_plan(&self, organization: &str, title: &str) -> String {
        let body = serde_json::json!({
            "organization_id": organization, "title": title, "diary_number": "LS/1/2026",
            "period_start": "2026-01-01", "period_end": "2028-12-31"
        });
        self.post("/v1/plans", Some(&self.root_token()), &body).await.created()["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

/// Sends a hand-built request (other headers, raw bodies) and reads the answer whole.
pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    Reply::read(request.send().await.expect("request sent")).await
}

impl Reply {
    async fn read(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        Reply { status, headers, text }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The body of a 200 answer.
    pub fn ok(&self) -> Value {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "expected 200, got {}: {}",
            self.status,
            self.text
        );
        self.json()
    }

    /// The body of a 201 answer.
    pub fn created(&self) -> Value {
        assert_eq!(
            self.status,
            StatusCode::CREATED,
            "expected 201, got {}: {}",
            self.status,
            self.text
        );
        self.json()
    }

    /// The problem of an error answer, checked to be problem+json with this status.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "expected {status}, got {}: {}",
            self.status,
            self.text
        );
        let content_type = self.header("content-type").unwrap_or_default();
        assert_eq!(content_type, "application/problem+json", "errors are problem+json");
        let problem = self.json();
        assert_eq!(problem["status"].as_u64(), Some(u64::from(status)));
        assert!(
            problem["type"].as_str().is_some_and(|t| t.starts_with("/problems/")),
            "type is a problem path"
        );
        problem
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
}

/// Declares each test once and runs it against SQLite and PostgreSQL.
#[macro_export]
macro_rules! backend_tests {
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let $app = $crate::TestApp::spawn($crate::Backend::Sqlite).expect("SQLite is always there");
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some($app) = $crate::TestApp::spawn($crate::Backend::Postgres) else { return };
                    $body
                }
            )*
        }
    };
}
