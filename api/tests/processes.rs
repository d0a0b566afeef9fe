//! Several `planledger` processes on one PostgreSQL, as a region runs them
//! behind a load balancer: one gap-free, ordered log across them, and a
//! long-poll held on one process wakes within a second of a write through
//! another (PostgreSQL LISTEN/NOTIFY). Real processes of the real binary.
//! Runs when `PLANLEDGER_TEST_DATABASE_URL` is set (and must, under CI).

use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "planledger-process-test-secret-0123456789";

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("address")
        .port()
}

fn planledger(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_planledger"));
    command
        .env("DATABASE_URL", database_url)
        .env("PLANLEDGER_JWT_SECRET", SECRET)
        .env("PLANLEDGER_RATE_LIMIT", "0")
        .env("RUST_LOG", "warn");
    command
}

async fn start(database_url: &str, client: &reqwest::Client) -> Server {
    let port = free_port();
    let child = planledger(database_url)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .spawn()
        .expect("start planledger");
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = client.get(format!("{}/readyz", server.url)).send().await {
            if response.status().is_success() {
                return server;
            }
        }
        assert!(Instant::now() < deadline, "planledger did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create_organization(client: &reqwest::Client, url: &str, token: &str, name: &str) {
    let response = client
        .post(format!("{url}/v1/organizations"))
        .bearer_auth(token)
        .json(&json!({"name": name, "kind": "municipality"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 201);
}

async fn events(client: &reqwest::Client, server: &Server, token: &str, query: &str) -> Value {
    let response = client
        .get(format!("{}/v1/events{query}", server.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_on_one_postgresql_share_one_ordered_log_and_wake_each_other() {
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
    let schema = format!("planledger_processes_{}", uuid::Uuid::new_v4().simple());
    let (admin, connection) = tokio_postgres::connect(&base_url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("schema");
    let separator = if base_url.contains('?') { '&' } else { '?' };
    let database_url = format!("{base_url}{separator}options=-csearch_path%3D{schema}");

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let output = planledger(&database_url).args(["migrate"]).output().expect("migrate");
    assert!(output.status.success());
    let output = planledger(&database_url)
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
    let token = String::from_utf8(output.stdout).expect("utf-8").trim().to_owned();
    let servers = [start(&database_url, &client).await, start(&database_url, &client).await];

    // Writers on both processes at once.
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (client, token, url) = (client.clone(), token.clone(), servers[writer % 2].url.clone());
        writers.push(tokio::spawn(async move {
            for n in 0..10 {
                create_organization(&client, &url, &token, &format!("Kommun {writer}-{n}")).await;
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let page = events(&client, &servers[1], &token, "?after=0&limit=1000").await;
    let seqs: Vec<i64> = page["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(
        seqs,
        (1..=40).collect::<Vec<_>>(),
        "one gap-free sequence across both processes"
    );
    assert_eq!(events(&client, &servers[0], &token, "?after=0&limit=1000").await, page);

    // A long-poll on the first process answers within a second of a write through the second.
    let head = page["next_after"].as_i64().expect("next_after");
    let poll = {
        let (client, token, url) = (client.clone(), token.clone(), servers[0].url.clone());
        tokio::spawn(async move {
            let response = client
                .get(format!("{url}/v1/events?after={head}&wait=30"))
                .bearer_auth(token)
                .send()
                .await
                .expect("sent");
            let page: Value = response.json().await.expect("json");
            (page, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let written = Instant::now();
    create_organization(&client, &servers[1].url, &token, "Region Västernorrland").await;
    let (page, answered) = poll.await.expect("poll");
    assert_eq!(page["events"][0]["data"]["snapshot"]["name"], "Region Västernorrland");
    let latency = answered.duration_since(written);
    assert!(
        latency < Duration::from_secs(1),
        "the other process woke {latency:?} after the write"
    );

    let verify = planledger(&database_url).args(["verify-log"]).output().expect("verify");
    assert!(
        verify.status.success(),
        "{:?}: {}{}",
        verify.status,
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    drop(servers);
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .expect("drop schema");
}
