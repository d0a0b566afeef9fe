//! Reports for scheduled scripts, as JSON and as their CSV twins.

use planledger_tests::{backend_tests, send, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

fn demo() -> Value {
    serde_json::from_str(planledger_api::DEMO_DATA).expect("demo data")
}

/// Parses CSV with a standard reader into header → value maps.
fn parse_csv(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().expect("header row").clone();
    reader
        .records()
        .map(|record| {
            let record = record.expect("a well-formed record");
            headers
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// A JSON value as its CSV cell: text as is, null as empty, numbers as written.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Asserts that the CSV rows carry exactly the JSON items' fields and values.
fn assert_twin(rows: &[std::collections::HashMap<String, String>], items: &[Value]) {
    assert_eq!(rows.len(), items.len());
    for (row, item) in rows.iter().zip(items) {
        let item = item.as_object().expect("object");
        assert_eq!(row.len(), item.len(), "the same columns as the JSON fields");
        for (field, value) in item {
            assert_eq!(row[field], cell(value), "{field}");
        }
    }
}

async fn csv_of(app: &TestApp, path: &str) -> Vec<std::collections::HashMap<String, String>> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let reply = app
        .get(&format!("{path}{separator}format=csv"), Some(&app.root_token()))
        .await;
    assert_eq!(reply.status.as_u16(), 200);
    assert_eq!(reply.header("content-type").as_deref(), Some("text/csv; charset=utf-8"));
    parse_csv(&reply.text)
}

async fn organization(app: &TestApp, name: &str, kind: &str, code: &str, parent: Option<&str>) -> String {
    let body = json!({"name": name, "kind": kind, "code": code, "parent_id": parent});
    app.post("/v1/organizations", Some(&app.root_token()), &body)
        .await
        .created()["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn indicator(app: &TestApp, code: &str, target: Value) -> String {
    let body = json!({"code": code, "title": format!("Mätetal {code}"), "unit": "percent",
        "direction": "increasing", "source": "kolada", "update_frequency": "yearly", "target": target});
    app.post("/v1/indicators", Some(&app.root_token()), &body)
        .await
        .created()["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn put_values(app: &TestApp, indicator: &str, values: Value) {
    app.request(
        Method::PUT,
        &format!("/v1/indicators/{indicator}/values"),
        Some(&app.root_token()),
        Some(&json!({ "values": values })),
    )
    .await
    .ok();
}

fn year_of(date: &Value) -> Option<i32> {
    date.as_str().map(|d| d[..4].parse().expect("year"))
}

backend_tests! {
    async fn overdue_activities_are_those_past_due_and_not_done_in_plans_in_force(app: TestApp) {
        let file = demo();
        app.post("/v1/import/plans", Some(&app.root_token()), &file).await.ok();
        let as_of = "2016-06-30";
        let expected = file["plans"].as_array().expect("plans").iter()
            .filter(|plan| matches!(plan["status"].as_str(), Some("adopted" | "under_revision")))
            .flat_map(|plan| plan["goals"].as_array().expect("goals").iter())
            .flat_map(|goal| goal["activities"].as_array().expect("activities").iter())
            .filter(|activity| activity["due_date"].as_str().is_some_and(|due| due < as_of))
            .count();
        assert!(expected > 0);
        let report = app.get(&format!("/v1/reports/overdue-activities?as_of={as_of}"), None).await.ok();
        let items = report["items"].as_array().expect("items");
        assert_eq!(items.len(), expected);
        assert_eq!(report["as_of"], as_of);
        let first = &items[0];
        let due = chrono::NaiveDate::parse_from_str(first["due_date"].as_str().expect("due"), "%Y-%m-%d").expect("date");
        let as_of_date = chrono::NaiveDate::parse_from_str(as_of, "%Y-%m-%d").expect("date");
        assert_eq!(first["days_overdue"].as_i64(), Some((as_of_date - due).num_days()));
        assert!(items.windows(2).all(|pair| pair[0]["due_date"].as_str() <= pair[1]["due_date"].as_str()), "longest overdue first");

        // Done activities leave the report.
        let activity = first["activity_id"].as_str().expect("id");
        app.patch(&format!("/v1/activities/{activity}"), Some(&app.root_token()), &json!({"status": "done"})).await.ok();
        let after = app.get(&format!("/v1/reports/overdue-activities?as_of={as_of}"), None).await.ok();
        assert_eq!(after["items"].as_array().expect("items").len(), expected - 1);
    }

    async fn the_csv_twin_parses_and_matches_the_json(app: TestApp) {
        app.post("/v1/import/plans", Some(&app.root_token()), &demo()).await.ok();
        let path = "/v1/reports/overdue-activities?as_of=2016-01-01";
        let json = app.get(path, None).await.ok();
        let by_query = app.get(&format!("{path}&format=csv"), None).await;
        assert_eq!(by_query.status.as_u16(), 200);
        assert_eq!(by_query.header("content-type").as_deref(), Some("text/csv; charset=utf-8"));
        let by_accept = send(app.client.get(format!("{}{path}", app.base_url)).header("Accept", "text/csv")).await;
        assert_eq!(by_accept.text, by_query.text);
        assert!(by_query.text.contains("\r\n"), "RFC 4180 line ends");
        let rows = parse_csv(&by_query.text);
        let items = json["items"].as_array().expect("items");
        assert_eq!(rows.len(), items.len());
        for (row, item) in rows.iter().zip(items) {
            let item = item.as_object().expect("object");
            assert_eq!(row.len(), item.len(), "the same columns as the JSON fields");
            for (field, value) in item {
                assert_eq!(row[field], cell(value), "{field}");
            }
        }
        assert!(rows.iter().any(|row| row["activity_title"].contains('å') || row["activity_title"].contains('ä') || row["activity_title"].contains('ö')), "UTF-8 kept");
        app.get(&format!("{path}&format=xml"), None).await.problem(400);
    }

    async fn the_status_report_counts_each_plans_goals_and_activities_by_status(app: TestApp) {
        let file = demo();
        let summary = app.post("/v1/import/plans", Some(&app.root_token()), &file).await.ok();
        let region = summary["organization_id"].as_str().expect("organization id").to_owned();
        let path = format!("/v1/reports/status?organization_id={region}&period=2016");
        let report = app.get(&path, Some(&app.root_token())).await.ok();
        assert_eq!(report["period"], "2016");
        let items = report["items"].as_array().expect("items");
        // By hand: the plans whose period covers 2016, counted from the file.
        let covering: Vec<&Value> = file["plans"].as_array().expect("plans").iter()
            .filter(|plan| year_of(&plan["period_start"]).is_none_or(|y| y <= 2016)
                && year_of(&plan["period_end"]).is_none_or(|y| y >= 2016))
            .collect();
        assert!(!covering.is_empty());
        assert_eq!(items.len(), covering.len());
        for plan in covering {
            let item = items.iter().find(|i| i["diary_number"] == plan["diary_number"]).expect("the plan's row");
            let goals = plan["goals"].as_array().expect("goals");
            let activities: Vec<&Value> = goals.iter().flat_map(|g| g["activities"].as_array().expect("activities").iter()).collect();
            assert_eq!(item["goals_total"].as_u64(), Some(goals.len() as u64));
            for status in ["not_started", "on_track", "at_risk", "off_track", "achieved", "not_achieved", "cancelled"] {
                let expected = goals.iter().filter(|g| g["status"].as_str().unwrap_or("not_started") == status).count();
                assert_eq!(item[format!("goals_{status}")].as_u64(), Some(expected as u64), "goals {status}");
            }
            assert_eq!(item["activities_total"].as_u64(), Some(activities.len() as u64));
            for status in ["planned", "in_progress", "done", "postponed", "cancelled"] {
                let expected = activities.iter().filter(|a| a["status"].as_str().unwrap_or("planned") == status).count();
                assert_eq!(item[format!("activities_{status}")].as_u64(), Some(expected as u64), "activities {status}");
            }
            assert_eq!(item["follow_up_kind"], Value::Null);
            assert_eq!(item["follow_up_status"], Value::Null);
        }
        assert_twin(&csv_of(&app, &path).await, items);
        app.get(&format!("/v1/reports/status?organization_id={region}&period=20x6"), None).await.problem(400);
    }

    async fn the_due_report_lists_missing_follow_ups_overdue_activities_and_stale_indicators(app: TestApp) {
        let file = demo();
        app.post("/v1/import/plans", Some(&app.root_token()), &file).await.ok();
        let before = "2016-12-31";
        // A yearly indicator whose newest value is 2014 is stale at the end of 2016; one with 2016 is not.
        let region = organization(&app, "Region Test", "region", "99", None).await;
        let stale = indicator(&app, "T00001", Value::Null).await;
        let fresh = indicator(&app, "T00002", Value::Null).await;
        put_values(&app, &stale, json!([{"organization_id": region, "period": "2014", "gender": "T", "value": 10.0}])).await;
        put_values(&app, &fresh, json!([{"organization_id": region, "period": "2016", "gender": "T", "value": 10.0}])).await;

        let report = app.get(&format!("/v1/reports/due?before={before}"), Some(&app.root_token())).await.ok();
        assert_eq!(report["before"], before);
        let items = report["items"].as_array().expect("items");
        let of_kind = |kind: &str| items.iter().filter(|i| i["kind"] == kind).collect::<Vec<_>>();
        // By hand: per plan in force, each year of its period up to 2015 (the last ended before 2016-12-31).
        let in_force: Vec<&Value> = file["plans"].as_array().expect("plans").iter()
            .filter(|plan| matches!(plan["status"].as_str(), Some("adopted" | "under_revision")))
            .collect();
        let years: usize = in_force.iter()
            .map(|plan| {
                let first = year_of(&plan["period_start"]).expect("start");
                let last = year_of(&plan["period_end"]).expect("end").min(2015);
                (first..=last).count()
            })
            .sum();
        assert!(years > 0);
        let follow_ups = of_kind("follow_up");
        assert_eq!(follow_ups.len(), years);
        assert!(follow_ups.iter().all(|i| i["state"] == "missing" && i["subject_id"] == i["plan_id"]));
        let activities = in_force.iter()
            .flat_map(|plan| plan["goals"].as_array().expect("goals").iter())
            .flat_map(|goal| goal["activities"].as_array().expect("activities").iter())
            .filter(|a| a["due_date"].as_str().is_some_and(|due| due < before))
            .count();
        assert_eq!(of_kind("activity").len(), activities);
        let indicators = of_kind("indicator");
        assert_eq!(indicators.len(), 1);
        assert_eq!(indicators[0]["subject_id"], json!(stale));
        assert_eq!(indicators[0]["period"], "2014");
        assert_eq!(indicators[0]["state"], "stale");

        // An approved annual report for a year takes it off the list; a draft shows as a draft.
        let item = follow_ups[0];
        let plan = item["plan_id"].as_str().expect("plan").to_owned();
        let period = item["period"].as_str().expect("period").to_owned();
        let root = app.root_token();
        let body = json!({"period": period, "kind": "annual", "summary": "Klar"});
        let approved = app.post(&format!("/v1/plans/{plan}/follow-ups"), Some(&root), &body).await.created();
        let approved = approved["id"].as_str().expect("id").to_owned();
        for to in ["submitted", "approved"] {
            app.post(&format!("/v1/follow-ups/{approved}/transitions"), Some(&root), &json!({"to": to})).await.ok();
        }
        let other = follow_ups.iter().find(|i| i["plan_id"] != json!(plan) || i["period"] != json!(period)).expect("another");
        let other_plan = other["plan_id"].as_str().expect("plan").to_owned();
        let body = json!({"period": other["period"], "kind": "annual", "summary": "Utkast"});
        let draft = app.post(&format!("/v1/plans/{other_plan}/follow-ups"), Some(&root), &body).await.created();
        let path = format!("/v1/reports/due?before={before}");
        let after = app.get(&path, Some(&root)).await.ok();
        let after_items = after["items"].as_array().expect("items");
        let follow_ups_after: Vec<&Value> = after_items.iter().filter(|i| i["kind"] == "follow_up").collect();
        assert_eq!(follow_ups_after.len(), years - 1);
        assert!(!follow_ups_after.iter().any(|i| i["plan_id"] == json!(plan) && i["period"] == json!(period)));
        let drafted = follow_ups_after.iter().find(|i| i["subject_id"] == draft["id"]).expect("the draft");
        assert_eq!(drafted["state"], "draft");
        assert_eq!(drafted["period"], other["period"]);
        assert_twin(&csv_of(&app, &path).await, after_items);
    }

    async fn the_county_report_compiles_the_regions_municipalities(app: TestApp) {
        let region = organization(&app, "Region Jämtland Härjedalen", "region", "23", None).await;
        let other_region = organization(&app, "Region Stockholm", "region", "01", None).await;
        let krokom = organization(&app, "Krokoms kommun", "municipality", "2309", Some(&region)).await;
        let ostersund = organization(&app, "Östersunds kommun", "municipality", "2380", Some(&region)).await;
        let are = organization(&app, "Åre kommun", "municipality", "2321", Some(&region)).await;
        let stockholm = organization(&app, "Stockholms stad", "municipality", "0180", Some(&other_region)).await;
        let first = indicator(&app, "U21468", json!(90)).await;
        let second = indicator(&app, "N00002", Value::Null).await;
        let value = |org: &str, period: &str, v: Value| json!({"organization_id": org, "period": period, "gender": "T", "value": v});
        put_values(&app, &first, json!([
            value(&krokom, "2016", json!(87.0)), value(&ostersund, "2016", json!(80.0)), value(&are, "2016", Value::Null),
            value(&stockholm, "2016", json!(75.0)), value(&krokom, "2015", json!(10.0)),
            {"organization_id": krokom, "period": "2016", "gender": "K", "value": 99.0},
        ])).await;
        put_values(&app, &second, json!([value(&are, "2016", json!(3.5))])).await;

        let path = format!("/v1/reports/county?organization_id={region}&period=2016&indicator_ids={first},{second}");
        let report = app.get(&path, None).await.ok();
        assert_eq!(report["period"], "2016");
        let codes: Vec<&str> = report["indicators"].as_array().expect("indicators").iter().map(|i| i["code"].as_str().expect("code")).collect();
        assert_eq!(codes, ["U21468", "N00002"]);
        let rows = report["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 3, "the region's municipalities only");
        let row = |id: &str| rows.iter().find(|r| r["organization_id"] == json!(id)).expect("row");
        assert_eq!(row(&krokom)["values"], json!({"U21468": 87.0, "N00002": null}));
        assert_eq!(row(&ostersund)["values"], json!({"U21468": 80.0, "N00002": null}));
        assert_eq!(row(&are)["values"], json!({"U21468": null, "N00002": 3.5}));
        assert_eq!(row(&krokom)["code"], "2309");
        // By hand: county (87 + 80) / 2; national (87 + 80 + 75) / 3.
        assert_eq!(report["county_mean"], json!({"U21468": (87.0 + 80.0) / 2.0, "N00002": 3.5}));
        assert_eq!(report["national_mean"], json!({"U21468": (87.0 + 80.0 + 75.0) / 3.0, "N00002": 3.5}));
        assert_eq!(report["target"], json!({"U21468": 90.0, "N00002": null}));

        // The CSV: a row per municipality, then county_mean, national_mean, target.
        let csv_rows = csv_of(&app, &path).await;
        assert_eq!(csv_rows.len(), rows.len() + 3);
        for (csv_row, json_row) in csv_rows.iter().zip(rows) {
            assert_eq!(csv_row.len(), 3 + codes.len());
            for field in ["organization_id", "name", "code"] {
                assert_eq!(csv_row[field], cell(&json_row[field]), "{field}");
            }
            for code in &codes {
                assert_eq!(csv_row[*code], cell(&json_row["values"][*code]), "{code}");
            }
        }
        for (csv_row, label) in csv_rows[rows.len()..].iter().zip(["county_mean", "national_mean", "target"]) {
            assert_eq!(csv_row["organization_id"], label);
            assert_eq!(csv_row["name"], "");
            for code in &codes {
                assert_eq!(csv_row[*code], cell(&report[label][*code]), "{label} {code}");
            }
        }
        app.get(&format!("/v1/reports/county?organization_id={krokom}&period=2016&indicator_ids={first}"), None).await.problem(422);
        app.get(&format!("/v1/reports/county?organization_id={region}&period=2016"), None).await.problem(400);
    }

    async fn large_reports_stream_in_batches_whole_and_in_order(app: TestApp) {
        // Three municipalities with the demo plans: more overdue activities than one batch.
        let mut expected = 0;
        for (i, name) in ["Krokom", "Strömsund", "Åre"].iter().enumerate() {
            let mut file = demo();
            file["organization"] = json!({"name": name, "kind": "municipality", "code": format!("230{}", i + 1)});
            expected += file["plans"].as_array().expect("plans").iter()
                .filter(|plan| matches!(plan["status"].as_str(), Some("adopted" | "under_revision")))
                .flat_map(|plan| plan["goals"].as_array().expect("goals").iter())
                .flat_map(|goal| goal["activities"].as_array().expect("activities").iter())
                .filter(|activity| activity["due_date"].is_string())
                .filter(|activity| !matches!(activity["status"].as_str(), Some("done" | "cancelled")))
                .count();
            app.post("/v1/import/plans", Some(&app.root_token()), &file).await.ok();
        }
        assert!(expected > 500, "{expected} rows cross a batch boundary");

        let path = "/v1/reports/overdue-activities?as_of=2099-01-01";
        let reply = app.get(path, None).await;
        assert_eq!(reply.status.as_u16(), 200);
        assert_eq!(reply.header("content-length"), None, "streamed, not sized in advance");
        let report: Value = serde_json::from_str(&reply.text).expect("one whole JSON document");
        let items = report["items"].as_array().expect("items");
        assert_eq!(items.len(), expected);
        let ids: std::collections::HashSet<&str> = items.iter().map(|i| i["activity_id"].as_str().expect("id")).collect();
        assert_eq!(ids.len(), expected, "no activity twice, none left out at a batch boundary");
        assert!(items.windows(2).all(|pair| pair[0]["due_date"].as_str() <= pair[1]["due_date"].as_str()));
        assert_twin(&csv_of(&app, path).await, items);

        // An empty report still has its header row, the one a full report has.
        let full = app.get(&format!("{path}&format=csv"), None).await.text;
        let header = &full[..full.find("\r\n").expect("a header row") + 2];
        let empty_csv = app.get(&format!("{path}&format=csv").replace("2099-01-01", "1990-01-01"), None).await;
        assert_eq!(empty_csv.status.as_u16(), 200);
        assert_eq!(empty_csv.text, header);
        let empty = app.get(&path.replace("2099-01-01", "1990-01-01"), None).await.ok();
        assert_eq!(empty, json!({"as_of": "1990-01-01", "items": []}));
    }
}
