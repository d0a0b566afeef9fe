//! Webhooks over real HTTP, on both backends: a receiver on a loopback port
//! checks every delivery's Standard Webhooks signature with the
//! subscription's secret (by its own HMAC, not the server's) and records what
//! it got; the tests compare that with the event log as `GET /v1/events`
//! shows it. Waits are bounded polls for a condition, never a sleep that
//! assumes how fast the worker is.

use planledger_api::Settings;
use planledger_domain::permissions::Role;
use planledger_tests::{backend_tests, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ------------------------------------------------------------ the receiver

/// How the receiver answers a request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// A status with `Retry-After: <seconds>`.
    RetryAfter(u16, u64),
}

/// A request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    webhook_id: String,
    timestamp: i64,
    signature_valid: bool,
    content_type: String,
    body: Value,
    answered: u16,
}

impl Got {
    fn seq(&self) -> i64 {
        self.body["seq"].as_i64().expect("seq")
    }
}

struct ReceiverState {
    secret: String,
    /// Answers for the next requests, in order; when they are used up, `then`.
    script: VecDeque<Answer>,
    then: Answer,
    got: Vec<Got>,
    /// How long each answer takes.
    delay: Duration,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: usize,
    max_in_flight: usize,
}

/// A small HTTP/1.1 server on 127.0.0.1, a thread per connection.
struct Receiver {
    address: SocketAddr,
    state: Arc<Mutex<ReceiverState>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// Listens on a free port, answering `script` and then `then`.
    fn start(secret: &str, script: &[Answer], then: Answer) -> Receiver {
        Self::start_on("127.0.0.1:0", secret, script, then)
    }

    fn start_on(address: &str, secret: &str, script: &[Answer], then: Answer) -> Receiver {
        let listener = TcpListener::bind(address).expect("receiver listens");
        listener.set_nonblocking(true).expect("nonblocking");
        let address = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(ReceiverState {
            secret: secret.to_owned(),
            script: script.iter().copied().collect(),
            then,
            got: Vec::new(),
            delay: Duration::ZERO,
            in_flight: 0,
            max_in_flight: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let state = state.clone();
                            std::thread::spawn(move || serve(stream, &state));
                        }
                        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(error) => panic!("receiver accept: {error}"),
                    }
                }
            })
        };
        Receiver {
            address,
            state,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/planledger", self.address)
    }

    fn got(&self) -> Vec<Got> {
        self.state.lock().expect("receiver state").got.clone()
    }

    /// Takes `delay` over each answer from now on.
    fn slow_down(&self, delay: Duration) {
        self.state.lock().expect("receiver state").delay = delay;
    }

    /// The most requests it was answering at once.
    fn max_in_flight(&self) -> usize {
        self.state.lock().expect("receiver state").max_in_flight
    }

    /// Answers every request from now on with `answer`.
    fn answer(&self, answer: Answer) {
        let mut state = self.state.lock().expect("receiver state");
        state.script.clear();
        state.then = answer;
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request, records it with its signature checked, and answers it.
fn serve(mut stream: TcpStream, state: &Mutex<ReceiverState>) {
    stream.set_nonblocking(false).expect("blocking");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let header = |name: &str| {
        head.lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim().to_owned())
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    let (webhook_id, timestamp) = (header("webhook-id"), header("webhook-timestamp"));
    let answer = {
        let mut state = state.lock().expect("receiver state");
        let signature_valid = verify(
            &state.secret,
            &webhook_id,
            &timestamp,
            &body,
            &header("webhook-signature"),
        );
        let answer = state.script.pop_front().unwrap_or(state.then);
        let answered = match answer {
            Answer::Status(status) | Answer::RetryAfter(status, _) => status,
        };
        state.got.push(Got {
            webhook_id,
            timestamp: timestamp.parse().unwrap_or(0),
            signature_valid,
            content_type: header("content-type"),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            answered,
        });
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        (answer, state.delay)
    };
    let (answer, delay) = answer;
    std::thread::sleep(delay);
    let (status, extra) = match answer {
        Answer::Status(status) => (status, String::new()),
        Answer::RetryAfter(status, seconds) => (status, format!("Retry-After: {seconds}\r\n")),
    };
    let text = if status < 300 { "" } else { "receiver is down" };
    let response = format!(
        "HTTP/1.1 {status} Answer\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{text}",
        text.len()
    );
    let _ = stream.write_all(response.as_bytes());
    state.lock().expect("receiver state").in_flight -= 1;
}

// ------------------------------------------------------------ Standard Webhooks, independently

fn verify(secret: &str, id: &str, timestamp: &str, body: &[u8], signatures: &str) -> bool {
    let Some(key) = secret.strip_prefix("whsec_").and_then(base64_decode) else {
        return false;
    };
    let mut message = format!("{id}.{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    let expected = format!("v1,{}", base64_encode(&hmac_sha256(&key, &message)));
    signatures.split(' ').any(|candidate| candidate == expected)
}

/// HMAC (RFC 2104) over SHA-256.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let digits = text
        .trim_end_matches('=')
        .bytes()
        .map(|c| ALPHABET.iter().position(|&a| a == c).map(|p| p as u32))
        .collect::<Option<Vec<u32>>>()?;
    let mut out = Vec::new();
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &d)| n | d << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    Some(out)
}

#[test]
fn the_test_receivers_check_is_the_standard_webhooks_one() {
    // The test vector of the Standard Webhooks reference libraries.
    assert!(verify(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        br#"{"test": 2432232314}"#,
        "v1,bm9ldHZhbGlk v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    ));
}

// ------------------------------------------------------------ helpers

/// A secret of 32 random bytes.
fn new_secret() -> String {
    let mut key = uuid::Uuid::new_v4().as_bytes().to_vec();
    key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    format!("whsec_{}", base64_encode(&key))
}

/// Waits, up to 30 s, until `check` answers something.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A schedule patient enough (300 quick attempts, about half a minute) to outlast a receiver that
/// is down for a while, or a restart.
fn patient(settings: &mut Settings) {
    settings.webhooks.retry_schedule = std::iter::once(0)
        .chain(std::iter::repeat_n(100, 300))
        .map(Duration::from_millis)
        .collect();
}

async fn subscribe(app: &TestApp, organization: &str, url: &str, types: &[&str], secret: &str) -> Value {
    let body = json!({"organization_id": organization, "url": url, "types": types, "secret": secret});
    app.post("/v1/webhooks", Some(&app.root_token()), &body).await.created()
}

/// The seq a subscription starts after: its own `webhook.created`.
fn start_seq(webhook: &Value) -> i64 {
    webhook["last_delivered_seq"].as_i64().expect("cursor")
}

/// The events after `after` that a subscription of these organizations and types is to get, as
/// the feed shows them.
async fn expected(app: &TestApp, after: i64, organizations: &[&str], types: &[&str]) -> Vec<Value> {
    app.events_after(after)
        .await
        .into_iter()
        .filter(|event| organizations.iter().any(|org| event["organization_id"] == json!(org)))
        .filter(|event| types.is_empty() || types.iter().any(|t| event["type"] == json!(t)))
        .collect()
}

fn seqs(events: &[Value]) -> Vec<i64> {
    events.iter().map(|event| event["seq"].as_i64().expect("seq")).collect()
}

/// The seqs of the first successful delivery of each event, in the order they came.
fn first_successes(got: &[Got]) -> Vec<i64> {
    let mut seen = Vec::new();
    for delivery in got.iter().filter(|g| (200..300).contains(&g.answered)) {
        if !seen.contains(&delivery.seq()) {
            seen.push(delivery.seq());
        }
    }
    seen
}

/// Waits until every one of `events` was delivered successfully, and answers all the receiver got.
async fn all_delivered(receiver: &Receiver, events: &[Value]) -> Vec<Got> {
    let wanted = seqs(events);
    eventually("every event is delivered", async || {
        let got = receiver.got();
        let done = first_successes(&got);
        wanted.iter().all(|seq| done.contains(seq)).then_some(got)
    })
    .await
}

/// Checks what a receiver got: every signature valid, in seq order, and each event's first
/// success in the order of the log with none missing and none extra.
fn assert_delivered_in_order(got: &[Got], events: &[Value]) {
    assert!(got.iter().all(|g| g.signature_valid), "every signature verifies");
    let received: Vec<i64> = got.iter().map(Got::seq).collect();
    assert!(received.windows(2).all(|w| w[0] <= w[1]), "in seq order: {received:?}");
    assert_eq!(first_successes(got), seqs(events), "each event once, in order");
}

async fn create_plans(app: &TestApp, organization: &str, count: usize) {
    for n in 0..count {
        app.create_plan(organization, &format!("Handlingsplan {n}")).await;
    }
}

async fn webhook(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/webhooks/{id}"), Some(&app.root_token()))
        .await
        .ok()
}

async fn deliveries(app: &TestApp, id: &str) -> Vec<Value> {
    let page = app
        .get(
            &format!("/v1/webhooks/{id}/deliveries?limit=500"),
            Some(&app.root_token()),
        )
        .await
        .ok();
    page["items"].as_array().expect("items").clone()
}

async fn wait_for_status(app: &TestApp, id: &str, status: &str) -> Value {
    eventually(&format!("the subscription is {status}"), async || {
        let webhook = webhook(app, id).await;
        (webhook["status"] == json!(status)).then_some(webhook)
    })
    .await
}

fn ms_between(from: &Value, to: &Value) -> i64 {
    let parse = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().expect("time")).expect("RFC 3339");
    (parse(to) - parse(from)).num_milliseconds()
}

// ------------------------------------------------------------ the tests

backend_tests! {
    async fn deliveries_arrive_signed_in_seq_order_and_only_of_the_subscribed_types(app: TestApp) {
        let region = app.create_organization("Region Jämtland Härjedalen", "region", None).await;
        let municipality = app.create_organization("Krokoms kommun", "municipality", Some(&region)).await;
        let elsewhere = app.create_organization("Region Västernorrland", "region", None).await;
        let secret = new_secret();
        let receiver = Receiver::start(&secret, &[], Answer::Status(204));
        let types = ["plan.created", "plan.status_changed"];
        let webhook = subscribe(&app, &region, &receiver.url(), &types, &secret).await;
        assert_eq!(webhook["types"], json!(types));
        assert_eq!(webhook["secret"], json!(secret));

        let plan = app.create_plan(&municipality, "Handlingsplan mot våld i nära relation").await;
        app.create_plan(&elsewhere, "Not in the region's scope").await;
        let goal = json!({"number": "1", "title": "Fler våldsutsatta får stöd"});
        app.post(&format!("/v1/plans/{plan}/goals"), Some(&app.root_token()), &goal).await.created();
        let adopt = json!({"to": "adopted", "decided_by": "Kommunfullmäktige", "decided_on": "2026-01-15"});
        app.post(&format!("/v1/plans/{plan}/transitions"), Some(&app.root_token()), &adopt).await.ok();
        app.create_plan(&region, "The last one").await;

        let events = expected(&app, start_seq(&webhook), &[&region, &municipality], &types).await;
        assert_eq!(events.len(), 3, "two plans created in scope and one adopted: {events:?}");
        let got = all_delivered(&receiver, &events).await;
        assert_delivered_in_order(&got, &events);
        assert_eq!(got.len(), 3, "only the subscribed types of the scope, each once");
        for (delivery, event) in got.iter().zip(&events) {
            assert_eq!(&delivery.body, event, "the body is the event as GET /v1/events shows it");
            assert_eq!(delivery.webhook_id, event["id"].as_str().expect("id"));
            assert_eq!(delivery.content_type, "application/json");
            assert!((delivery.timestamp - chrono::Utc::now().timestamp()).abs() < 300);
        }
        let state = caught_up(&app, &webhook, &events[2]).await;
        assert_eq!(state["failed_attempts"], json!(0));
    }

    async fn a_failing_receiver_gets_every_event_in_order_once_it_recovers(app: TestApp) {
        let organization = app.create_organization("Östersunds kommun", "municipality", None).await;
        let secret = new_secret();
        let script = [Answer::Status(500), Answer::Status(500), Answer::RetryAfter(503, 1)];
        let receiver = Receiver::start(&secret, &script, Answer::Status(200));
        let webhook = subscribe(&app, &organization, &receiver.url(), &[], &secret).await;
        create_plans(&app, &organization, 5).await;

        let events = expected(&app, start_seq(&webhook), &[&organization], &[]).await;
        assert_eq!(events.len(), 5);
        let got = all_delivered(&receiver, &events).await;
        assert_delivered_in_order(&got, &events);
        let first = events[0]["seq"].as_i64().expect("seq");
        let answers: Vec<(i64, u16)> = got.iter().take(4).map(|g| (g.seq(), g.answered)).collect();
        assert_eq!(answers, [(first, 500), (first, 500), (first, 503), (first, 200)]);

        // The attempts record the failures, and the 503's Retry-After held the retry back.
        let attempts = deliveries(&app, webhook["id"].as_str().expect("id")).await;
        let of_first: Vec<&Value> = attempts.iter().rev().filter(|a| a["seq"] == json!(first)).collect();
        let numbers: Vec<i64> = of_first.iter().map(|a| a["attempt"].as_i64().expect("attempt")).collect();
        assert_eq!(numbers, [1, 2, 3, 4]);
        let unavailable = of_first[2];
        assert_eq!(unavailable["response_status"], json!(503));
        assert!(
            ms_between(&unavailable["started_at"], &unavailable["next_attempt_at"]) >= 1000,
            "Retry-After: 1 outweighs the schedule's 300 ms: {unavailable}"
        );
        assert!(ms_between(&unavailable["next_attempt_at"], &of_first[3]["started_at"]) >= 0);
    }

    async fn a_receiver_that_refuses_connections_for_a_while_gets_every_event(app: TestApp) {
        let app = app.restart_with(patient);
        let organization = app.create_organization("Bergs kommun", "municipality", None).await;
        // A port nobody listens on yet.
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
        let secret = new_secret();
        let url = format!("http://127.0.0.1:{port}/hooks/planledger");
        let webhook = subscribe(&app, &organization, &url, &[], &secret).await;
        let id = webhook["id"].as_str().expect("id").to_owned();
        create_plans(&app, &organization, 3).await;
        let refused = eventually("attempts fail to connect", async || {
            let attempts = deliveries(&app, &id).await;
            (attempts.len() >= 2).then_some(attempts)
        })
        .await;
        assert!(refused.iter().all(|a| a["response_status"].is_null() && a["outcome"] == json!("failed")));
        assert!(refused[0]["error"].as_str().is_some_and(|e| e.contains("connect")), "{}", refused[0]);

        let receiver = Receiver::start_on(&format!("127.0.0.1:{port}"), &secret, &[], Answer::Status(200));
        let events = expected(&app, start_seq(&webhook), &[&organization], &[]).await;
        let got = all_delivered(&receiver, &events).await;
        assert_delivered_in_order(&got, &events);
    }

    async fn a_restart_while_deliveries_are_pending_loses_none(app: TestApp) {
        let app = app.restart_with(patient);
        let organization = app.create_organization("Härjedalens kommun", "municipality", None).await;
        let secret = new_secret();
        let receiver = Receiver::start(&secret, &[], Answer::Status(500));
        let webhook = subscribe(&app, &organization, &receiver.url(), &[], &secret).await;
        let id = webhook["id"].as_str().expect("id").to_owned();
        create_plans(&app, &organization, 4).await;
        eventually("the receiver has failed twice", async || (receiver.got().len() >= 2).then_some(())).await;

        let app = app.restart_with(patient);
        create_plans(&app, &organization, 2).await;
        receiver.answer(Answer::Status(200));

        let events = expected(&app, start_seq(&webhook), &[&organization], &[]).await;
        assert_eq!(events.len(), 6);
        let got = all_delivered(&receiver, &events).await;
        assert_delivered_in_order(&got, &events);
        // The attempt count lived in the database: the numbers run on across the restart. The
        // successful attempt is recorded once its answer is in, a moment after the receiver saw it.
        let first = &events[0]["seq"];
        let numbers = eventually("the successful attempt is recorded", async || {
            let mut numbers: Vec<i64> = deliveries(&app, &id)
                .await
                .iter()
                .filter(|a| &a["seq"] == first)
                .map(|a| a["attempt"].as_i64().expect("attempt"))
                .collect();
            numbers.sort_unstable();
            (numbers.len() >= 3).then_some(numbers)
        })
        .await;
        assert_eq!(numbers, (1..=numbers.len() as i64).collect::<Vec<_>>());
        let state = caught_up(&app, &webhook, &events[5]).await;
        assert_eq!((state["failed_attempts"].clone(), state["next_attempt_at"].clone()), (json!(0), Value::Null));
    }

    async fn processes_sharing_a_database_never_deliver_one_subscription_at_once(app: TestApp) {
        let second = app.another_process();
        let organization = app.create_organization("Krokoms kommun", "municipality", None).await;
        let secret = new_secret();
        let receiver = Receiver::start(&secret, &[], Answer::Status(200));
        receiver.slow_down(Duration::from_millis(30));
        let webhook = subscribe(&app, &organization, &receiver.url(), &[], &secret).await;
        for n in 0..8 {
            // Writes through both processes, whose workers both poll for the subscription.
            let writer = if n % 2 == 0 { &app } else { &second };
            writer.create_plan(&organization, &format!("Handlingsplan {n}")).await;
        }
        let events = expected(&app, start_seq(&webhook), &[&organization], &[]).await;
        assert_eq!(events.len(), 8);
        let got = all_delivered(&receiver, &events).await;
        assert_delivered_in_order(&got, &events);
        assert_eq!(got.len(), 8, "each event once: no two workers took the same one");
        assert_eq!(receiver.max_in_flight(), 1, "one delivery at a time");
    }

    async fn a_410_disables_the_subscription_and_a_replay_enables_it_again(app: TestApp) {
        let organization = app.create_organization("Strömsunds kommun", "municipality", None).await;
        let secret = new_secret();
        let receiver = Receiver::start(&secret, &[], Answer::Status(410));
        let webhook = subscribe(&app, &organization, &receiver.url(), &[], &secret).await;
        let id = webhook["id"].as_str().expect("id").to_owned();
        create_plans(&app, &organization, 1).await;

        let disabled = wait_for_status(&app, &id, "disabled").await;
        assert!(disabled["disabled_reason"].as_str().is_some_and(|r| r.contains("410")), "{disabled}");
        assert_eq!(disabled["next_attempt_at"], Value::Null);
        let attempts = deliveries(&app, &id).await;
        assert_eq!(attempts.len(), 1, "a 410 is not retried");
        assert_eq!(attempts[0]["response_status"], json!(410));
        let log = app.events_after(start_seq(&webhook)).await;
        let change = log.iter().find(|e| e["type"] == json!("webhook.status_changed")).expect("the disabling is an event");
        assert_eq!((change["data"]["from"].clone(), change["data"]["to"].clone()), (json!("active"), json!("disabled")));
        assert_eq!(change["actor"]["sub"], json!("system"));
        assert_eq!(change["subject"], json!({"type": "webhook", "id": id}));
        assert!(change["data"]["snapshot"].get("secret").is_none());

        // Disabled, it gets nothing more.
        create_plans(&app, &organization, 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(receiver.got().len(), 1);

        receiver.answer(Answer::Status(200));
        let replayed = app
            .post(&format!("/v1/webhooks/{id}/replay"), Some(&app.root_token()), &json!({"after": start_seq(&webhook)}))
            .await
            .ok();
        assert_eq!(replayed["status"], json!("active"));
        assert_eq!(replayed["disabled_reason"], Value::Null);
        let events = expected(&app, start_seq(&webhook), &[&organization], &[]).await;
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().expect("type")).collect();
        assert_eq!(types, ["plan.created", "webhook.status_changed", "plan.created", "webhook.status_changed"]);
        let got = all_delivered(&receiver, &events).await;
        assert_delivered_in_order(&got[1..], &events);
    }

    async fn a_receiver_failing_every_attempt_is_disabled_when_the_schedule_runs_out(app: TestApp) {
        let organization = app.create_organization("Ragunda kommun", "municipality", None).await;
        let secret = new_secret();
        let receiver = Receiver::start(&secret, &[], Answer::Status(500));
        let webhook = subscribe(&app, &organization, &receiver.url(), &[], &secret).await;
        let id = webhook["id"].as_str().expect("id").to_owned();
        create_plans(&app, &organization, 1).await;

        let disabled = wait_for_status(&app, &id, "disabled").await;
        assert!(disabled["disabled_reason"].as_str().is_some_and(|r| r.contains("all 5 attempts")), "{disabled}");
        assert_eq!(disabled["failed_attempts"], json!(5));
        let attempts = deliveries(&app, &id).await;
        let numbers: Vec<i64> = attempts.iter().map(|a| a["attempt"].as_i64().expect("attempt")).collect();
        assert_eq!(numbers, [5, 4, 3, 2, 1], "newest first");
        assert_eq!(attempts[0]["next_attempt_at"], Value::Null, "no attempt after the last");
        assert!(attempts[1..].iter().all(|a| a["next_attempt_at"].is_string()));
        assert!(attempts.iter().all(|a| a["response_status"] == json!(500)));
        let got = receiver.got();
        assert_eq!(got.len(), 5);
        assert!(got.iter().all(|g| g.webhook_id == got[0].webhook_id), "one event, one webhook-id");
        assert!(got.iter().all(|g| g.signature_valid));
    }

    async fn a_replay_delivers_again_from_a_seq(app: TestApp) {
        let organization = app.create_organization("Bräcke kommun", "municipality", None).await;
        let secret = new_secret();
        let receiver = Receiver::start(&secret, &[], Answer::Status(200));
        let webhook = subscribe(&app, &organization, &receiver.url(), &["plan.created"], &secret).await;
        let id = webhook["id"].as_str().expect("id").to_owned();
        create_plans(&app, &organization, 3).await;
        let events = expected(&app, start_seq(&webhook), &[&organization], &["plan.created"]).await;
        all_delivered(&receiver, &events).await;

        let path = format!("/v1/webhooks/{id}/replay");
        let token = app.root_token();
        let head = app.head_seq().await;
        for bad in [json!({"after": -1}), json!({"after": head + 1}), json!({})] {
            app.post(&path, Some(&token), &bad).await.problem(422);
        }
        let stale = app
            .client
            .post(format!("{}{path}", app.base_url))
            .bearer_auth(&token)
            .header("If-Match", "\"7\"")
            .json(&json!({"after": 0}));
        planledger_tests::send(stale).await.problem(412);

        let from = events[1]["seq"].as_i64().expect("seq") - 1;
        let replayed = app.post(&path, Some(&token), &json!({"after": from})).await;
        let replayed_body = replayed.ok();
        assert_eq!(replayed_body["last_delivered_seq"], json!(from));
        assert_eq!(replayed_body["revision"], json!(2));
        assert!(replayed.header("etag").is_some_and(|tag| tag.starts_with("\"2.")));
        let again = &events[1..];
        let got = eventually("the replayed events come again", async || {
            let got = receiver.got();
            (got.len() >= 5).then_some(got)
        })
        .await;
        assert_eq!(got.iter().map(Got::seq).collect::<Vec<_>>(), [seqs(&events), seqs(again)].concat());
        let update = app.events_after(head).await;
        assert_eq!(update[0]["type"], json!("webhook.updated"));
        assert_eq!(update[0]["data"]["snapshot"]["last_delivered_seq"], json!(from));
    }

    async fn only_admins_in_scope_manage_webhooks(app: TestApp) {
        let region = app.create_organization("Region", "region", None).await;
        let municipality = app.create_organization("Kommun", "municipality", Some(&region)).await;
        let other = app.create_organization("Annan region", "region", None).await;
        let body = |org: &str| json!({"organization_id": org, "url": "https://hooks.example.se/planledger"});
        let region_admin = app.token(&region, &[Role::Admin]);
        let municipal_admin = app.token(&municipality, &[Role::Admin]);
        let region_staff = app.token(&region, &[Role::Reader, Role::Editor, Role::Approver]);

        app.post("/v1/webhooks", None, &body(&region)).await.problem(401);
        app.post("/v1/webhooks", Some(&region_staff), &body(&region)).await.problem(403);
        app.post("/v1/webhooks", Some(&municipal_admin), &body(&region)).await.problem(403);
        let own = app.post("/v1/webhooks", Some(&region_admin), &body(&region)).await;
        assert!(own.header("cache-control").is_some_and(|c| c.contains("no-store")));
        let own = own.created();
        let below = app.post("/v1/webhooks", Some(&region_admin), &body(&municipality)).await.created();
        let foreign = app.post("/v1/webhooks", Some(&app.root_token()), &body(&other)).await.created();
        let secret = own["secret"].as_str().expect("a secret is made");
        assert!(secret.starts_with("whsec_") && base64_decode(&secret[6..]).is_some_and(|k| k.len() == 32));

        let ids = |list: Value| -> Vec<String> {
            list["items"].as_array().expect("items").iter().map(|w| w["id"].as_str().expect("id").to_owned()).collect()
        };
        let listed = app.get("/v1/webhooks", Some(&region_admin)).await.ok();
        assert!(listed["items"].as_array().expect("items").iter().all(|w| w.get("secret").is_none()));
        assert_eq!(ids(listed), [own["id"].clone(), below["id"].clone()].map(|v| v.as_str().expect("id").to_owned()));
        assert_eq!(ids(app.get("/v1/webhooks", Some(&municipal_admin)).await.ok()), [below["id"].as_str().expect("id")]);
        app.get("/v1/webhooks", Some(&region_staff)).await.problem(403);
        app.get("/v1/webhooks", None).await.problem(401);

        let own_path = format!("/v1/webhooks/{}", own["id"].as_str().expect("id"));
        let foreign_path = format!("/v1/webhooks/{}", foreign["id"].as_str().expect("id"));
        assert!(app.get(&own_path, Some(&region_admin)).await.ok().get("secret").is_none());
        app.get(&own_path, Some(&region_staff)).await.problem(403);
        app.get(&own_path, Some(&municipal_admin)).await.problem(404);
        app.get(&format!("{own_path}/deliveries"), Some(&municipal_admin)).await.problem(404);
        app.post(&format!("{own_path}/replay"), Some(&municipal_admin), &json!({"after": 0})).await.problem(404);
        app.request(Method::DELETE, &own_path, Some(&municipal_admin), None).await.problem(404);
        app.get(&foreign_path, Some(&region_admin)).await.problem(404);
        app.get("/v1/webhooks/not-a-uuid", Some(&region_admin)).await.problem(404);

        let invalid = |fields: Value| {
            let mut request = body(&region);
            request.as_object_mut().expect("object").extend(fields.as_object().expect("object").clone());
            request
        };
        for (request, field) in [
            (invalid(json!({"url": "ftp://hooks.example.se/"})), "url"),
            (invalid(json!({"url": "https://user:pw@hooks.example.se/"})), "url"),
            (invalid(json!({"types": ["plan.created", "plan.deleted"]})), "types[1]"),
            (invalid(json!({"secret": "not-whsec"})), "secret"),
            (invalid(json!({"organization_id": uuid::Uuid::new_v4().to_string()})), "organization_id"),
        ] {
            let problem = app.post("/v1/webhooks", Some(&region_admin), &request).await.problem(422);
            assert_eq!(problem["errors"][0]["field"], json!(field), "{problem}");
        }

        let deleted = app.request(Method::DELETE, &own_path, Some(&region_admin), None).await;
        assert_eq!(deleted.status.as_u16(), 204);
        app.get(&own_path, Some(&region_admin)).await.problem(404);
        app.request(Method::DELETE, &own_path, Some(&region_admin), None).await.problem(404);
        assert_eq!(ids(app.get("/v1/webhooks", Some(&region_admin)).await.ok()), [below["id"].as_str().expect("id")]);

        // No event shows a secret.
        let log = app.events_after(0).await;
        let types: Vec<&str> = log.iter().filter(|e| e["subject"]["type"] == json!("webhook")).map(|e| e["type"].as_str().expect("type")).collect();
        assert_eq!(types, ["webhook.created", "webhook.created", "webhook.created", "webhook.status_changed"]);
        let text = serde_json::to_string(&log).expect("json");
        assert!(!text.contains(secret) && !text.contains("\"secret\""));
    }

    async fn delivery_attempts_are_visible_through_the_api(app: TestApp) {
        let organization = app.create_organization("Åre kommun", "municipality", None).await;
        let secret = new_secret();
        let receiver = Receiver::start(&secret, &[Answer::Status(500)], Answer::Status(202));
        let webhook = subscribe(&app, &organization, &receiver.url(), &["plan.created"], &secret).await;
        let id = webhook["id"].as_str().expect("id").to_owned();
        create_plans(&app, &organization, 2).await;
        let events = expected(&app, start_seq(&webhook), &[&organization], &["plan.created"]).await;
        all_delivered(&receiver, &events).await;

        let attempts = eventually("three attempts are recorded", async || {
            let attempts = deliveries(&app, &id).await;
            (attempts.len() == 3).then_some(attempts)
        })
        .await;
        let summary: Vec<(Value, Value, Value, Value)> = attempts
            .iter()
            .map(|a| (a["seq"].clone(), a["attempt"].clone(), a["outcome"].clone(), a["response_status"].clone()))
            .collect();
        let (first, second) = (events[0]["seq"].clone(), events[1]["seq"].clone());
        assert_eq!(summary, [
            (second.clone(), json!(1), json!("delivered"), json!(202)),
            (first.clone(), json!(2), json!("delivered"), json!(202)),
            (first.clone(), json!(1), json!("failed"), json!(500)),
        ], "newest first");
        let failed = &attempts[2];
        assert_eq!(failed["event_id"], events[0]["id"]);
        assert!(failed["error"].as_str().is_some_and(|e| e.contains("500") && e.contains("receiver is down")), "{failed}");
        assert!(failed["next_attempt_at"].is_string());
        assert!(attempts.iter().all(|a| a["duration_ms"].as_i64().is_some_and(|d| d >= 0) && a["started_at"].is_string()));
        assert!(attempts[..2].iter().all(|a| a["error"].is_null() && a["next_attempt_at"].is_null()));

        let token = app.root_token();
        let page = app.get(&format!("/v1/webhooks/{id}/deliveries?limit=2"), Some(&token)).await.ok();
        assert_eq!(page["items"].as_array().expect("items").len(), 2);
        let cursor = page["next_cursor"].as_str().expect("a next page");
        let rest = app.get(&format!("/v1/webhooks/{id}/deliveries?limit=2&cursor={cursor}"), Some(&token)).await.ok();
        assert_eq!(rest["items"], json!([attempts[2]]));
        assert_eq!(rest["next_cursor"], Value::Null);
    }
}

/// Waits until the subscription's cursor is at `last` (the receiver may have its answer before
/// the worker recorded it).
async fn caught_up(app: &TestApp, created: &Value, last: &Value) -> Value {
    let id = created["id"].as_str().expect("id");
    eventually("the cursor is at the last event", async || {
        let state = webhook(app, id).await;
        (state["last_delivered_seq"] == last["seq"]).then_some(state)
    })
    .await
}
