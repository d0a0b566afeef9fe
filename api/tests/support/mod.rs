//! What the tests of the real `planledger` binary share: running it, and a
//! fresh PostgreSQL schema to run it on.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SECRET: &str = "planledger-binary-test-secret-0123456789";

/// A `planledger` command on `database_url`, with the test secret and no rate limit.
pub fn planledger(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_planledger"));
    command
        .env("DATABASE_URL", database_url)
        .env("PLANLEDGER_JWT_SECRET", SECRET)
        .env("PLANLEDGER_RATE_LIMIT", "0")
        .env("RUST_LOG", "error")
        .stderr(Stdio::null());
    command
}

/// An admin token of the root organization, from `planledger token issue`.
pub fn root_token(database_url: &str) -> String {
    let output = planledger(database_url)
        .args([
            "token",
            "issue",
            "--org",
            "SE",
            "--roles",
            "reader,admin",
            "--ttl",
            "1h",
        ])
        .output()
        .expect("token");
    String::from_utf8(output.stdout).expect("utf-8").trim().to_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("address")
        .port()
}

/// A running `planledger serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `planledger serve` on `port` and waits until it is ready.
pub async fn serve(database_url: &str, port: u16, client: &reqwest::Client) -> Server {
    serve_with(planledger(database_url), port, client).await
}

/// Starts `command` (a `planledger` command with its settings) serving on `port` and waits until it is ready.
pub async fn serve_with(mut command: Command, port: u16, client: &reqwest::Client) -> Server {
    let child = command
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .spawn()
        .expect("start planledger");
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(response) = client.get(format!("{}/readyz", server.url)).send().await {
            if response.status().is_success() {
                return server;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("planledger did not become ready");
}

/// A fresh schema in the PostgreSQL of `PLANLEDGER_TEST_DATABASE_URL`, dropped with it.
pub struct PostgresSchema {
    admin: tokio_postgres::Client,
    name: String,
    pub url: String,
}

impl PostgresSchema {
    /// `None` (saying so) when the variable is unset; under CI that is a failure.
    pub async fn create(prefix: &str) -> Option<PostgresSchema> {
        let Some(base_url) = std::env::var("PLANLEDGER_TEST_DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty())
        else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the PostgreSQL tests: set PLANLEDGER_TEST_DATABASE_URL"
            );
            eprintln!("PLANLEDGER_TEST_DATABASE_URL is not set: this PostgreSQL test did not run");
            return None;
        };
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let (admin, connection) = tokio_postgres::connect(&base_url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        admin
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("schema");
        let separator = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{separator}options=-csearch_path%3D{name}");
        Some(PostgresSchema { admin, name, url })
    }

    pub async fn drop_schema(self) {
        self.admin
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
            .await
            .expect("drop schema");
    }
}

/// Prints a test's figures and, under `.ci/run`, appends them to the summary it prints at the end.
pub fn summary(line: &str) {
    println!("{line}");
    if let Some(path) = std::env::var_os("PLANLEDGER_CI_SUMMARY") {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("the CI summary file");
        writeln!(file, "{line}").expect("summary written");
    }
}

/// The whole event log, page by page.
pub async fn all_events(client: &reqwest::Client, base: &str, token: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = client
            .get(format!("{base}/v1/events?after={after}&limit=1000"))
            .bearer_auth(token)
            .send()
            .await
            .expect("events")
            .json()
            .await
            .expect("json");
        let batch = page["events"].as_array().expect("events").clone();
        if batch.is_empty() {
            return events;
        }
        after = page["next_after"].as_i64().expect("next_after");
        events.extend(batch);
    }
}

/// How many acknowledged organization writes (id → the highest revision a 2xx answered) are
/// lost: stored at an older revision, or missing an event of a revision up to it.
pub async fn lost_writes(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    acked: &std::collections::HashMap<String, i64>,
    events: &[Value],
) -> usize {
    let revisions: std::collections::HashSet<(&str, i64)> = events
        .iter()
        .filter(|e| e["subject"]["type"] == "organization")
        .map(|e| {
            (
                e["subject"]["id"].as_str().expect("id"),
                e["data"]["snapshot"]["revision"].as_i64().expect("revision"),
            )
        })
        .collect();
    let mut lost = 0;
    for (id, revision) in acked {
        let current: Value = client
            .get(format!("{base}/v1/organizations/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        let stored = current["revision"].as_i64().unwrap_or(0);
        let missing_events = (1..=*revision)
            .filter(|r| !revisions.contains(&(id.as_str(), *r)))
            .count();
        if stored < *revision || missing_events > 0 {
            lost += 1;
            eprintln!(
                "lost: {id} acknowledged at revision {revision}, stored {stored}, {missing_events} events missing"
            );
        }
    }
    lost
}

/// `GET /v1/events/verify`: the hash chain checked from the first event.
pub async fn verify_chain(client: &reqwest::Client, base: &str, token: &str) -> Value {
    client
        .get(format!("{base}/v1/events/verify"))
        .bearer_auth(token)
        .send()
        .await
        .expect("verify")
        .json()
        .await
        .expect("json")
}
