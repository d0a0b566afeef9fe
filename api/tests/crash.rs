//! Crash safety: writers load the real `planledger` binary, which is killed
//! with SIGKILL at a random moment and restarted on the same database. Every
//! write that was acknowledged with a 2xx must be there afterwards with its
//! event, `seq` must stay gap-free and the hash chain must verify. SQLite
//! always; PostgreSQL when `PLANLEDGER_TEST_DATABASE_URL` is set (and must,
//! under CI). Rounds: `PLANLEDGER_CRASH_ROUNDS` (default 20).

mod support;

use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{
    all_events, free_port, lost_writes, planledger, root_token, serve, summary, verify_chain, PostgresSchema,
};

const WRITERS: usize = 4;

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
    let token = root_token(database_url);
    let acked: Acknowledged = Arc::default();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..rounds {
        let mut server = serve(database_url, port, &client).await;
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
        server.child.kill().expect("SIGKILL");
        server.child.wait().expect("reaped");
        for writer in writers {
            writer.await.expect("writer");
        }
        drop(server);
    }
    let _server = serve(database_url, port, &client).await;
    let acked = acked.lock().expect("lock").clone();
    let events = all_events(&client, &base, &token).await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>(), "seq is gap-free");
    let acknowledged_writes: i64 = acked.values().sum();
    let lost = lost_writes(&client, &base, &token, &acked, &events).await;
    let verify = verify_chain(&client, &base, &token).await;
    summary(&format!(
        "crash ({label}): {rounds} kills, {acknowledged_writes} acked writes, {lost} lost, {} events, chain verified: {}",
        events.len(),
        verify["ok"]
    ));
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
    let Some(schema) = PostgresSchema::create("planledger_crash").await else {
        return;
    };
    crash_rounds(&schema.url, "postgres").await;
    schema.drop_schema().await;
}
