//! Several `planledger` processes on one PostgreSQL, as a region runs them
//! behind a load balancer: one gap-free, ordered log across them, and a
//! long-poll held on one process wakes within a second of a write through
//! another (PostgreSQL LISTEN/NOTIFY). Real processes of the real binary.
//! Runs when `PLANLEDGER_TEST_DATABASE_URL` is set (and must, under CI).

mod support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::{all_events, free_port, planledger, root_token, serve, summary, PostgresSchema, Server};

async fn start(database_url: &str, client: &reqwest::Client) -> Server {
    serve(database_url, free_port(), client).await
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_on_one_postgresql_share_one_ordered_log_and_wake_each_other() {
    let Some(schema) = PostgresSchema::create("planledger_processes").await else {
        return;
    };
    let database_url = schema.url.clone();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let output = planledger(&database_url).args(["migrate"]).output().expect("migrate");
    assert!(output.status.success());
    let token = root_token(&database_url);
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
    let log = all_events(&client, &servers[1].url, &token).await;
    let seqs: Vec<i64> = log.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
    assert_eq!(
        seqs,
        (1..=40).collect::<Vec<_>>(),
        "one gap-free sequence across both processes"
    );
    assert_eq!(all_events(&client, &servers[0].url, &token).await, log);

    // A long-poll on the first process answers within a second of a write through the second.
    let head = seqs.last().copied().expect("events");
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
    summary(&format!(
        "processes (postgres): 2 processes, 40 concurrent writes, seq 1..40 gap-free, long-poll woken across processes in {} ms",
        latency.as_millis()
    ));
    drop(servers);
    schema.drop_schema().await;
}
