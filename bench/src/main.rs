//! The benchmark's helpers, driven by `bench/run.sh`:
//!
//! - `dataset`: the 21 regions and 290 municipalities as organizations, then the demo
//!   file imported once per municipality through `POST /v1/import/plans`, timed;
//! - `fixtures`: the plan and goal ids the wrk scripts read;
//! - `longpoll`: commit → long-poll delivery latency.
//!
//! Every figure is printed as one line of JSON on stdout.

use clap::{Parser, Subcommand};
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "planledger-bench",
    about = "Helpers of planledger's benchmark (bench/run.sh)"
)]
struct Cli {
    /// The server, e.g. http://127.0.0.1:18080.
    #[arg(long, global = true, default_value = "http://127.0.0.1:18080")]
    base: String,
    /// An admin bearer token of the root organization.
    #[arg(long, global = true, env = "BENCH_TOKEN", default_value = "")]
    token: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Regions and municipalities, then the import file once per municipality.
    Dataset {
        /// The import file (the 14 demo plans).
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 290)]
        municipalities: usize,
        /// Imports in flight at once (the writes serialize on the log head anyway).
        #[arg(long, default_value_t = 2)]
        concurrency: usize,
    },
    /// Writes `plans.txt` (id and status of every plan) and `goals.txt` (ids of goals of the first plans).
    Fixtures {
        #[arg(long)]
        out: PathBuf,
        /// How many plans to take goals from.
        #[arg(long, default_value_t = 300)]
        goal_plans: usize,
    },
    /// Holds a long-poll, changes a goal's status, and times the delivery; `samples` times.
    Longpoll {
        /// A file with goal ids, one a line (from `fixtures`).
        #[arg(long)]
        goals: PathBuf,
        #[arg(long, default_value_t = 200)]
        samples: usize,
    },
}

type Failure = Box<dyn std::error::Error>;

/// Swedish län codes: 21 regions.
const REGION_CODES: [&str; 21] = [
    "01", "03", "04", "05", "06", "07", "08", "09", "10", "12", "13", "14", "17", "18", "19", "20", "21", "22", "23",
    "24", "25",
];

struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Value, Failure> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status}: {text}").into());
        }
        Ok(serde_json::from_str(&text)?)
    }

    async fn get(&self, path: &str) -> Result<Value, Failure> {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
}

fn id_of(value: &Value) -> Result<String, Failure> {
    value["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no id in {value}").into())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let cli = Cli::parse();
    let api = Api {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(64)
            .build()?,
        base: cli.base.trim_end_matches('/').to_owned(),
        token: cli.token,
    };
    let report = match cli.command {
        Command::Dataset {
            data,
            municipalities,
            concurrency,
        } => dataset(&api, &data, municipalities, concurrency.max(1)).await?,
        Command::Fixtures { out, goal_plans } => fixtures(&api, &out, goal_plans).await?,
        Command::Longpoll { goals, samples } => longpoll(&api, &goals, samples).await?,
    };
    println!("{report}");
    Ok(())
}

async fn dataset(api: &Api, data: &PathBuf, municipalities: usize, concurrency: usize) -> Result<Value, Failure> {
    let document: Value = serde_json::from_str(&std::fs::read_to_string(data)?)?;
    let started = Instant::now();
    let mut regions = Vec::new();
    for code in REGION_CODES {
        let region = api
            .post(
                "/v1/organizations",
                &json!({"name": format!("Region {code}"), "kind": "region", "code": code,
                        "parent_id": "00000000-0000-0000-0000-000000000000"}),
            )
            .await?;
        regions.push((code, id_of(&region)?));
    }
    let mut codes = Vec::new();
    for index in 0..municipalities {
        let (region_code, region_id) = &regions[index % regions.len()];
        let code = format!("{region_code}{:02}", index / regions.len() + 1);
        api.post(
            "/v1/organizations",
            &json!({"name": format!("Kommun {code}"), "kind": "municipality", "code": code, "parent_id": region_id}),
        )
        .await?;
        codes.push(code);
    }
    let organizations_seconds = started.elapsed().as_secs_f64();

    let imports_started = Instant::now();
    let results: Vec<Result<(f64, Value), Failure>> = stream::iter(codes.into_iter().map(|code| {
        let mut document = document.clone();
        document["organization"] = json!({"name": format!("Kommun {code}"), "kind": "municipality", "code": code});
        async move {
            let started = Instant::now();
            let summary = api.post("/v1/import/plans", &document).await?;
            Ok((started.elapsed().as_secs_f64(), summary))
        }
    }))
    .buffered(concurrency)
    .collect()
    .await;
    let import_seconds = imports_started.elapsed().as_secs_f64();
    let mut latencies = Vec::new();
    let (mut plans, mut goals, mut activities) = (0, 0, 0);
    for result in results {
        let (seconds, summary) = result?;
        latencies.push(seconds);
        plans += summary["plans"]["created"].as_u64().unwrap_or(0);
        goals += summary["goals"]["created"].as_u64().unwrap_or(0);
        activities += summary["activities"]["created"].as_u64().unwrap_or(0);
    }
    let first_import_seconds = latencies.first().copied().unwrap_or(f64::NAN);
    latencies.sort_by(f64::total_cmp);
    Ok(json!({
        "organizations": regions.len() + municipalities,
        "organizations_seconds": organizations_seconds,
        "imports": latencies.len(),
        "import_seconds": import_seconds,
        "import_first_seconds": first_import_seconds,
        "import_p50_seconds": percentile(&latencies, 50.0),
        "import_max_seconds": latencies.last().copied().unwrap_or(f64::NAN),
        "plans_created": plans,
        "goals_created": goals,
        "activities_created": activities,
        "head_seq": head_seq(api).await?,
    }))
}

/// The log's head, from `/metrics`.
async fn head_seq(api: &Api) -> Result<i64, Failure> {
    let text = api
        .client
        .get(format!("{}/metrics", api.base))
        .send()
        .await?
        .text()
        .await?;
    text.lines()
        .find_map(|line| line.strip_prefix("planledger_event_log_head_seq "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|value| value as i64)
        .ok_or_else(|| "no planledger_event_log_head_seq in /metrics".into())
}

async fn fixtures(api: &Api, out: &PathBuf, goal_plans: usize) -> Result<Value, Failure> {
    std::fs::create_dir_all(out)?;
    let mut plans: Vec<(String, String)> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/plans?limit=500&cursor={cursor}"),
            None => "/v1/plans?limit=500".to_owned(),
        };
        let page = api.get(&path).await?;
        for item in page["items"].as_array().into_iter().flatten() {
            plans.push((id_of(item)?, item["status"].as_str().unwrap_or_default().to_owned()));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut goals = Vec::new();
    for (id, _) in plans
        .iter()
        .filter(|(_, status)| status == "adopted" || status == "under_revision")
        .take(goal_plans)
    {
        let detail = api.get(&format!("/v1/plans/{id}")).await?;
        for goal in detail["goals"].as_array().into_iter().flatten() {
            if goal["status"].as_str() != Some("cancelled") {
                goals.push(id_of(goal)?);
            }
        }
    }
    let plan_lines: String = plans.iter().map(|(id, status)| format!("{id} {status}\n")).collect();
    std::fs::write(out.join("plans.txt"), plan_lines)?;
    std::fs::write(out.join("goals.txt"), goals.join("\n") + "\n")?;
    let head = head_seq(api).await?;
    Ok(json!({"plans": plans.len(), "goals": goals.len(), "head_seq": head}))
}

async fn longpoll(api: &Api, goals: &PathBuf, samples: usize) -> Result<Value, Failure> {
    let goals: Vec<String> = std::fs::read_to_string(goals)?
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(str::to_owned)
        .collect();
    if goals.is_empty() {
        return Err("no goals to change".into());
    }
    let mut head = head_seq(api).await?;
    let (mut from_send, mut from_ack) = (Vec::new(), Vec::new());
    for sample in 0..samples {
        let goal = &goals[sample % goals.len()];
        // A real change: to a status the goal does not have now.
        let current = api.get(&format!("/v1/goals/{goal}")).await?;
        let status = if current["status"].as_str() == Some("on_track") {
            "at_risk"
        } else {
            "on_track"
        };
        // The head now: read pages until one is not full (its `next_after` is then the head).
        loop {
            let page = api.get(&format!("/v1/events?after={head}&limit=1000")).await?;
            head = page["next_after"].as_i64().ok_or("no next_after in an event page")?;
            if page["events"].as_array().map_or(0, Vec::len) < 1000 {
                break;
            }
        }
        let poll_url = format!("{}/v1/events?after={head}&wait=30", api.base);
        let poll = {
            let request = api.client.get(poll_url).bearer_auth(&api.token);
            tokio::spawn(async move {
                let response = request.send().await?;
                let body: Value = response.json().await?;
                Ok::<_, reqwest::Error>((Instant::now(), body))
            })
        };
        // Let the long-poll reach its wait before the write.
        tokio::time::sleep(Duration::from_millis(25)).await;
        let sent = Instant::now();
        api.send(
            reqwest::Method::PATCH,
            &format!("/v1/goals/{goal}"),
            Some(&json!({"status": status, "reason": "Mätning av leveranstid"})),
        )
        .await?;
        let acknowledged = Instant::now();
        let (delivered, body) = poll.await??;
        if delivered < sent {
            return Err(format!("the long-poll answered before the write was sent: {body}").into());
        }
        let events = body["events"].as_array().cloned().unwrap_or_default();
        let ours = events.iter().any(|event| {
            event["subject"]["id"].as_str() == Some(goal.as_str()) && event["type"] == "goal.status_changed"
        });
        if !ours {
            return Err(format!(
                "the long-poll delivered {} events, none the change of goal {goal}",
                events.len()
            )
            .into());
        }
        head = body["next_after"].as_i64().unwrap_or(head);
        from_send.push(delivered.duration_since(sent).as_secs_f64() * 1000.0);
        from_ack.push(delivered.saturating_duration_since(acknowledged).as_secs_f64() * 1000.0);
    }
    from_send.sort_by(f64::total_cmp);
    from_ack.sort_by(f64::total_cmp);
    Ok(json!({
        "samples": samples,
        "send_to_delivery_p50_ms": percentile(&from_send, 50.0),
        "send_to_delivery_p99_ms": percentile(&from_send, 99.0),
        "send_to_delivery_max_ms": from_send.last(),
        "ack_to_delivery_p50_ms": percentile(&from_ack, 50.0),
        "ack_to_delivery_p99_ms": percentile(&from_ack, 99.0),
    }))
}
