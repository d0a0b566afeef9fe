//! The event feed as other regional systems consume it: long-poll, Server-Sent
//! Events, CloudEvents, and one ordered log across several server processes.

use planledger_tests::{backend_tests, send, Backend, TestApp};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Reads SSE frames from a streaming response until `count` events have come (or a deadline).
async fn read_events(response: &mut reqwest::Response, count: usize) -> Vec<(i64, String, Value)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while events.len() < count {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(remaining, response.chunk())
            .await
            .expect("events in time")
            .expect("chunk");
        buffer.push_str(std::str::from_utf8(&chunk.expect("stream open")).expect("utf-8"));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| {
                frame
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .map(str::to_owned)
            };
            if let (Some(id), Some(kind), Some(data)) = (field("id: "), field("event: "), field("data: ")) {
                events.push((
                    id.parse().expect("seq"),
                    kind,
                    serde_json::from_str(&data).expect("json"),
                ));
            }
        }
    }
    events
}

async fn stream(app: &TestApp, query: &str, last_event_id: Option<i64>) -> reqwest::Response {
    let mut request = app
        .client
        .get(format!("{}/v1/events/stream{query}", app.base_url))
        .bearer_auth(app.root_token());
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let response = request.send().await.expect("stream");
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("text")
        .starts_with("text/event-stream"));
    response
}

backend_tests! {
    async fn a_long_poll_answers_as_soon_as_an_event_commits(app: TestApp) {
        let app = std::sync::Arc::new(app);
        let head = app.head_seq().await;
        let poller = {
            let app = app.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let page = app.get(&format!("/v1/events?after={head}&wait=20"), Some(&app.root_token())).await.ok();
                (page, Instant::now(), started)
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let written = Instant::now();
        app.create_organization("Region", "region", None).await;
        let (page, answered, started) = poller.await.expect("poller");
        assert_eq!(page["events"][0]["type"], "organization.created");
        assert!(answered.duration_since(written) < Duration::from_secs(1), "answered {:?} after the write", answered.duration_since(written));
        assert!(answered.duration_since(started) >= Duration::from_millis(300), "it waited for the write");
    }

    async fn a_long_poll_with_nothing_new_answers_empty_at_the_deadline(app: TestApp) {
        let started = Instant::now();
        let page = app.get("/v1/events?after=0&wait=1", Some(&app.root_token())).await.ok();
        assert_eq!(page["events"], json!([]));
        assert_eq!(page["next_after"], 0);
        assert!(started.elapsed() >= Duration::from_millis(900));
        app.get("/v1/events?wait=61", Some(&app.root_token())).await.problem(400);
        app.get("/v1/events?wait=soon", Some(&app.root_token())).await.problem(400);
    }

    async fn the_stream_sends_events_in_order_and_resumes_from_last_event_id(app: TestApp) {
        let mut live = stream(&app, "?after=0", None).await;
        for name in ["Region A", "Region B", "Region C"] {
            app.create_organization(name, "region", None).await;
        }
        let first = read_events(&mut live, 3).await;
        let seqs: Vec<i64> = first.iter().map(|(seq, _, _)| *seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert!(first.iter().all(|(_, kind, event)| kind == "organization.created" && event["type"] == "organization.created"));
        drop(live);
        app.create_organization("Region D", "region", None).await;
        // A client that saw seq 2 reconnects and gets 3 and then 4, nothing twice.
        let mut resumed = stream(&app, "?after=0", Some(2)).await;
        let rest = read_events(&mut resumed, 2).await;
        assert_eq!(rest.iter().map(|(seq, _, _)| *seq).collect::<Vec<_>>(), [3, 4]);
        let filtered_app = stream(&app, "?after=0&types=plan.created", None).await;
        drop(filtered_app);
        let anonymous = send(app.client.get(format!("{}/v1/events/stream", app.base_url))).await;
        anonymous.problem(401);
    }

    async fn the_feed_answers_a_cloudevents_batch_on_request(app: TestApp) {
        app.create_organization("Region", "region", None).await;
        let reply = send(
            app.client
                .get(format!("{}/v1/events?after=0", app.base_url))
                .bearer_auth(app.root_token())
                .header("Accept", "application/cloudevents-batch+json"),
        )
        .await;
        assert_eq!(reply.status.as_u16(), 200);
        assert_eq!(reply.header("content-type").as_deref(), Some("application/cloudevents-batch+json"));
        assert_eq!(reply.header("planledger-next-after").as_deref(), Some("1"));
        let batch = reply.json();
        let event = &batch[0];
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(event["type"], "organization.created");
        assert_eq!(event["sequence"], "00000000000000000001");
        assert_eq!(event["id"], event["data"]["id"]);
        assert_eq!(event["subject"], format!("organization/{}", event["data"]["subject"]["id"].as_str().expect("id")));
        assert!(event["time"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert_eq!(event["source"], "/v1/events");
    }

    async fn several_processes_share_one_gap_free_log(app: TestApp) {
        let second = app.another_process();
        let (app, second) = (std::sync::Arc::new(app), std::sync::Arc::new(second));
        let mut writers = Vec::new();
        for process in [app.clone(), second.clone(), app.clone(), second.clone()] {
            writers.push(tokio::spawn(async move {
                for n in 0..10 {
                    process.create_organization(&format!("Kommun {n}"), "municipality", None).await;
                }
            }));
        }
        for writer in writers {
            writer.await.expect("writer");
        }
        let events = app.events_after(0).await;
        assert_eq!(events.len(), 40);
        assert!(events.iter().enumerate().all(|(index, event)| event["seq"] == index as i64 + 1), "one gap-free sequence");
        assert_eq!(second.events_after(0).await, events, "both processes read the same log");
        assert_eq!(app.get("/v1/events/verify", Some(&app.root_token())).await.ok()["ok"], true);

        // A long-poll held on one process answers within a second of a write through the other.
        let head = app.head_seq().await;
        let poller = {
            let app = app.clone();
            tokio::spawn(async move { app.get(&format!("/v1/events?after={head}&wait=20"), Some(&app.root_token())).await.ok() })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let written = Instant::now();
        second.create_organization("Region Västernorrland", "region", None).await;
        let page = poller.await.expect("poller");
        let latency = written.elapsed();
        assert_eq!(page["events"][0]["data"]["snapshot"]["name"], "Region Västernorrland");
        // PostgreSQL wakes the other process by NOTIFY; on one SQLite file the wake-up comes from
        // the periodic re-read, once a second.
        let bound = match app.backend {
            Backend::Postgres => Duration::from_secs(1),
            Backend::Sqlite => Duration::from_secs(2),
        };
        assert!(latency < bound, "woken {latency:?} after the other process's write");
    }
}
