//! Database outages (PostgreSQL). A private PostgreSQL cluster (the machine's own
//! `initdb`/`pg_ctl`) is stopped under load and started again: meanwhile
//! `planledger` answers 503 problem+json with `Retry-After` and `/readyz` fails;
//! afterwards it serves again without a restart, and no acknowledged write is
//! lost. And a write held up past the statement timeout answers 503 rather than
//! hang, leaving nothing half-written.

mod support;

use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{
    all_events, free_port, lost_writes, planledger, root_token, serve, serve_with, summary, verify_chain,
    PostgresSchema,
};

const WRITERS: usize = 4;

/// A PostgreSQL cluster of its own in a temporary directory, stopped when dropped.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// PostgreSQL refuses to run as root: then its commands run as `postgres`.
    as_postgres: bool,
}

impl Cluster {
    /// `None` (saying so) where PostgreSQL's server programs are not installed; under CI that is a failure.
    fn create() -> Option<Cluster> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|version| version.path().join("bin"))
            .filter(|bin| bin.join("pg_ctl").exists())
            .max();
        let Some(bin) = bin else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the outage test: install PostgreSQL"
            );
            eprintln!("PostgreSQL's server programs are not installed: the outage test did not run");
            return None;
        };
        let uid = Command::new("id").arg("-u").output().expect("id -u");
        let cluster = Cluster {
            bin,
            dir: tempfile::tempdir().expect("temp dir"),
            port: free_port(),
            as_postgres: String::from_utf8_lossy(&uid.stdout).trim() == "0",
        };
        if cluster.as_postgres {
            let owned = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(cluster.dir.path())
                .status()
                .expect("chown");
            assert!(owned.success());
        }
        let data = cluster.data();
        cluster.run("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"]);
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        let output = command.args(args).output().expect("a PostgreSQL program");
        assert!(
            output.status.success(),
            "{} {args:?}: {}{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-l", &log, "-o", &options, "-w", "start"],
        );
    }

    /// A fast shutdown: sessions are ended mid-query, the server is gone until started again.
    fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
        if self.as_postgres {
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"))
                .args(["-D", &self.data(), "-m", "immediate", "stop"])
                .output();
        }
    }
}

/// What the writers saw.
#[derive(Default)]
struct Observed {
    /// Organization id → the highest revision a 2xx acknowledged.
    acked: HashMap<String, i64>,
    /// Acknowledged writes, and those acknowledged after `/readyz` came back.
    acked_writes: usize,
    acked_after_recovery: usize,
    /// 503 problem+json answers with `Retry-After`.
    unavailable: usize,
    /// Anything else: other statuses, a 503 without its problem or `Retry-After`, transport errors.
    other: Vec<String>,
}

type Shared = Arc<Mutex<Observed>>;

/// Whether a non-2xx answer is the documented 503, recording what it was.
fn record_failure(observed: &Shared, response: &reqwest::Response) {
    let mut observed = observed.lock().expect("lock");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if response.status().as_u16() == 503
        && content_type == "application/problem+json"
        && response.headers().contains_key("retry-after")
    {
        observed.unavailable += 1;
    } else {
        observed.other.push(format!(
            "{} {content_type} {:?}",
            response.status(),
            response.headers().get("retry-after")
        ));
    }
}

async fn write_until_stopped(
    client: reqwest::Client,
    base: String,
    token: String,
    writer: usize,
    stop: Arc<AtomicBool>,
    recovered: Arc<AtomicBool>,
    observed: Shared,
) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let created = client
            .post(format!("{base}/v1/organizations"))
            .bearer_auth(&token)
            .json(&json!({"name": format!("Kommun {writer}-{n}"), "kind": "municipality"}))
            .send()
            .await;
        let response = match created {
            Ok(response) => response,
            Err(error) => {
                observed.lock().expect("lock").other.push(format!("transport: {error}"));
                continue;
            }
        };
        if response.status().as_u16() != 201 {
            record_failure(&observed, &response);
            continue;
        }
        let body: Value = response.json().await.expect("json");
        let id = body["id"].as_str().expect("id").to_owned();
        acknowledge(&observed, &recovered, &id, 1);
        for change in 0..3 {
            let patched = client
                .patch(format!("{base}/v1/organizations/{id}"))
                .bearer_auth(&token)
                .json(&json!({"name": format!("Kommun {writer}-{n} ändrad {change}")}))
                .send()
                .await;
            let response = match patched {
                Ok(response) => response,
                Err(error) => {
                    observed.lock().expect("lock").other.push(format!("transport: {error}"));
                    break;
                }
            };
            if !response.status().is_success() {
                record_failure(&observed, &response);
                break;
            }
            let body: Value = response.json().await.expect("json");
            acknowledge(&observed, &recovered, &id, body["revision"].as_i64().expect("revision"));
        }
    }
}

fn acknowledge(observed: &Shared, recovered: &AtomicBool, id: &str, revision: i64) {
    let mut observed = observed.lock().expect("lock");
    observed.acked.insert(id.to_owned(), revision);
    observed.acked_writes += 1;
    if recovered.load(Ordering::Relaxed) {
        observed.acked_after_recovery += 1;
    }
}

/// `/readyz`'s status, waiting at most a few seconds for the answer.
async fn readiness(client: &reqwest::Client, base: &str) -> (u16, String) {
    let response = client
        .get(format!("{base}/readyz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("/readyz answers");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (response.status().as_u16(), content_type)
}

async fn wait_for_readiness(client: &reqwest::Client, base: &str, status: u16, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let (answered, content_type) = readiness(client, base).await;
        if answered == status {
            if status == 503 {
                assert_eq!(content_type, "application/problem+json");
            }
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "/readyz did not answer {status} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_load_answers_503_and_serves_again_without_losing_a_write() {
    let Some(cluster) = Cluster::create() else {
        return;
    };
    cluster.start();
    let database_url = cluster.url();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    assert!(planledger(&database_url)
        .arg("migrate")
        .status()
        .expect("migrate")
        .success());
    let token = root_token(&database_url);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = serve(&database_url, port, &client).await;

    let stop = Arc::new(AtomicBool::new(false));
    let recovered = Arc::new(AtomicBool::new(false));
    let observed: Shared = Arc::default();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            tokio::spawn(write_until_stopped(
                client.clone(),
                base.clone(),
                token.clone(),
                writer,
                stop.clone(),
                recovered.clone(),
                observed.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let acked_before = observed.lock().expect("lock").acked_writes;
    assert!(acked_before > 0, "the writers got writes through before the outage");

    cluster.stop();
    let down = Instant::now();
    wait_for_readiness(&client, &base, 503, Duration::from_secs(10)).await;
    // Down for three seconds at least, and until every writer has met the outage.
    while observed.lock().expect("lock").unavailable < WRITERS || down.elapsed() < Duration::from_secs(3) {
        assert!(down.elapsed() < Duration::from_secs(60), "the writers saw no 503");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.start();
    let outage = down.elapsed();
    let recovery = wait_for_readiness(&client, &base, 200, Duration::from_secs(30)).await;
    recovered.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }

    let observed = Arc::try_unwrap(observed)
        .ok()
        .expect("writers done")
        .into_inner()
        .expect("lock");
    assert!(
        observed.other.is_empty(),
        "only documented 503s while down: {:?}",
        observed.other
    );
    assert!(
        observed.acked_after_recovery > 0,
        "writes succeed again without a restart"
    );
    let events = all_events(&client, &base, &token).await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>(), "seq is gap-free");
    let lost = lost_writes(&client, &base, &token, &observed.acked, &events).await;
    let verify = verify_chain(&client, &base, &token).await;
    summary(&format!(
        "outage (postgres): down {:.1} s under {WRITERS} writers, {} answers 503 with Retry-After, {} other, \
         /readyz 503 while down and 200 {} ms after the start, {} acked writes ({} after), {lost} lost, chain verified: {}",
        outage.as_secs_f64(),
        observed.unavailable,
        observed.other.len(),
        recovery.as_millis(),
        observed.acked_writes,
        observed.acked_after_recovery,
        verify["ok"]
    ));
    assert_eq!(lost, 0, "no acknowledged write is lost");
    assert_eq!(verify["ok"], true, "the chain verifies: {verify}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_held_up_past_the_statement_timeout_answers_503_and_leaves_nothing() {
    let Some(schema) = PostgresSchema::create("planledger_timeout").await else {
        return;
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    assert!(planledger(&schema.url)
        .arg("migrate")
        .status()
        .expect("migrate")
        .success());
    let token = root_token(&schema.url);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut command = planledger(&schema.url);
    command.env("PLANLEDGER_DB_STATEMENT_TIMEOUT", "1s");
    let _server = serve_with(command, port, &client).await;

    // Another session holds the log's head row, as a stuck writer would.
    let (holder, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    holder
        .batch_execute("BEGIN; SELECT seq FROM event_log_head WHERE id = 1 FOR UPDATE")
        .await
        .expect("lock the head");
    let started = Instant::now();
    let held = client
        .post(format!("{base}/v1/organizations"))
        .bearer_auth(&token)
        .json(&json!({"name": "Kommun i kö", "kind": "municipality"}))
        .send()
        .await
        .expect("answered");
    let waited = started.elapsed();
    assert_eq!(held.status().as_u16(), 503);
    assert!(held.headers().contains_key("retry-after"));
    assert!(waited < Duration::from_secs(5), "answered after {waited:?}, not held");
    let problem: Value = held.json().await.expect("problem");
    assert_eq!(problem["status"], 503);

    holder.batch_execute("ROLLBACK").await.expect("release");
    let response = client
        .post(format!("{base}/v1/organizations"))
        .bearer_auth(&token)
        .json(&json!({"name": "Kommun efter kön", "kind": "municipality"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status().as_u16(), 201);
    let events = all_events(&client, &base, &token).await;
    let names: Vec<&str> = events
        .iter()
        .filter_map(|e| e["data"]["snapshot"]["name"].as_str())
        .collect();
    assert!(
        !names.contains(&"Kommun i kö"),
        "the timed-out write left nothing: {names:?}"
    );
    assert!(names.contains(&"Kommun efter kön"));
    summary(&format!(
        "statement timeout (postgres): a write behind a held log head answered 503 after {} ms (timeout 1 s), nothing written",
        waited.as_millis()
    ));
    schema.drop_schema().await;
}
