//! Crash safety: writers load the real `planledger` binary, which is killed
//! with SIGKILL at a random moment and restarted on the same database. Every
//! write that was acknowledged with a 2xx must be there afterwards with its
//! event, `seq` must stay gap-free and the hash chain must verify. SQLite
//! always; PostgreSQL when `PLANLEDGER_TEST_DATABASE_URL` is set (and must,
//! under CI). Rounds: `PLANLEDGER_CRASH_ROUNDS` (default 20).

use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "planledger-crash-test-secret-0123456789ab";
const WRITERS: usize = 4;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn planledger(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_planledger"));
    command
        .env("DATABASE_URL", database_url)
        .env("PLANLEDGER_JWT_SECRET", SECRET)
        .env("PLANLEDGER_RATE_LIMIT", "0")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

async fn start(database_url: &str, port: u16, client: &reqwest::Client) -> Server {
    let child = planledger(database_url)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .spawn()
        .expect("start planledger");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(response) = client.get(format!("http://127.0.0.1:{port}/readyz")).send().await {
            if response.status().is_success() {
                return server;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("planledger did not become ready");
}

/// What the writers were told succeeded: organization id → the highest acknowledged revision.
type Acknowledged = Arc<Mutex<HashMap<String, i64>>>;

async fn write_until_killed(client: reqwest::Client, base: String, token: String, writer: usize, acked: Acknowledged) {
    let mut n = 0;
    loop {
        n += 1;
        let created = client
            .post(format!("{base}/v1/organizations"))
            .bearer_auth(&token)
            .json(&json!({"name": format!("Kommun {writer}-{n}"), "kind": "municipality"}))
            .send()
            .await;
        let Ok(response) = created else { return };
        if response.status().as_u16() != 201 {
            return;
        }
        let Ok(body) = response.json::<Value>().await else {
            return;
        };
        let id = body["id"].as_str().expect("id").to_owned();
        acked.lock().expect("lock").insert(id.clone(), 1);
        for change in 0..3 {
            let patched = client
                .patch(format!("{base}/v1/organizations/{id}"))
                .bearer_auth(&token)
                .json(&json!({"name": format!("Kommun {writer}-{n} ändrad {change}")}))
                .send()
                .await;
            let Ok(response) = patched else { return };
            if !response.status().is_success() {
                return;
            }
            let Ok(body) = response.json::<Value>().await else {
                return;
            };
            acked
                .lock()
                .expect("lock")
                .insert(id.clone(), body["revision"].as_i64().expect("revision"));
        }
    }
}

async fn all_events(client: &reqwest::Client, base: &str, token: &str) -> Vec<Value> {
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

async fn crash_rounds(database_url: &str, label: &str) {
    let rounds: usize = std::env::var("PLANLEDGER_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    assert!(planledger(database_url)
        .arg("migrate")
        .status()
        .expect("migrate")
        .success());
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
        .stdout(Stdio::piped())
        .output()
        .expect("token");
    let token = String::from_utf8(output.stdout).expect("utf-8").trim().to_owned();
    let acked: Acknowledged = Arc::default();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("address")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..rounds {
        let mut server = start(database_url, port, &client).await;
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                tokio::spawn(write_until_killed(
                    client.clone(),
                    base.clone(),
                    token.clone(),
                    writer,
                    acked.clone(),
                ))
            })
            .collect();
        // A moment that differs every round: somewhere in the middle of writes.
        let pause = 150 + (uuid::Uuid::new_v4().as_u128() % 600) as u64;
        tokio::time::sleep(Duration::from_millis(pause)).await;
        server.0.kill().expect("SIGKILL");
        server.0.wait().expect("reaped");
        for writer in writers {
            writer.await.expect("writer");
        }
        drop(server);
    }
    let _server = start(database_url, port, &client).await;
    let acked = acked.lock().expect("lock").clone();
    let events = all_events(&client, &base, &token).await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>(), "seq is gap-free");
    let revisions: HashSet<(String, i64)> = events
        .iter()
        .filter(|e| e["subject"]["type"] == "organization")
        .map(|e| {
            (
                e["subject"]["id"].as_str().expect("id").to_owned(),
                e["data"]["snapshot"]["revision"].as_i64().expect("revision"),
            )
        })
        .collect();
    let mut lost = 0;
    let mut acknowledged_writes = 0;
    for (id, revision) in &acked {
        acknowledged_writes += revision;
        let current: Value = client
            .get(format!("{base}/v1/organizations/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        let stored = current["revision"].as_i64().unwrap_or(0);
        // Every acknowledged revision has its event, and the stored state is at least that far.
        let missing_events = (1..=*revision)
            .filter(|r| !revisions.contains(&(id.clone(), *r)))
            .count();
        if stored < *revision || missing_events > 0 {
            lost += 1;
            eprintln!(
                "lost: {id} acknowledged at revision {revision}, stored {stored}, {missing_events} events missing"
            );
        }
    }
    let verify: Value = client
        .get(format!("{base}/v1/events/verify"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("verify")
        .json()
        .await
        .expect("json");
    println!("crash ({label}): {rounds} kills, {acknowledged_writes} acknowledged writes, {lost} lost, {} events, chain ok: {}", events.len(), verify["ok"]);
    assert_eq!(lost, 0, "no acknowledged write is lost");
    assert_eq!(verify["ok"], true, "the chain verifies: {verify}");
    assert!(acknowledged_writes > 0, "the writers got writes through");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_loses_no_acknowledged_write_when_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    crash_rounds(&format!("sqlite://{}", dir.path().join("crash.db").display()), "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_loses_no_acknowledged_write_when_killed() {
    let Some(base_url) = std::env::var("PLANLEDGER_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the PostgreSQL tests: set PLANLEDGER_TEST_DATABASE_URL"
        );
        eprintln!("PLANLEDGER_TEST_DATABASE_URL is not set: this PostgreSQL test did not run");
        return;
    };
    let schema = format!("planledger_crash_{}", uuid::Uuid::new_v4().simple());
    let (admin, connection) = tokio_postgres::connect(&base_url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("schema");
    let separator = if base_url.contains('?') { '&' } else { '?' };
    crash_rounds(
        &format!("{base_url}{separator}options=-csearch_path%3D{schema}"),
        "postgres",
    )
    .await;
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .expect("drop schema");
}
