//! Reports for scheduled scripts, as JSON and as their CSV twins.

use planledger_tests::{backend_tests, send};
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
}
