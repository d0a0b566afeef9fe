//! Indicators (mätetal), their values, the Kolada import and the Öppna
//! jämförelser comparison, over real HTTP on both backends.

use chrono::Datelike;
use planledger_domain::ids::ROOT_ORGANIZATION_ID;
use planledger_domain::permissions::Role;
use planledger_tests::{backend_tests, Reply, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

const KOLADA_2016: &str = include_str!("../fixtures/kolada-u21468-2016.json");
const KOLADA_UPDATE: &str = include_str!("../fixtures/kolada-u21468-2016-update.json");

/// A few municipalities of Jämtland under their region, two of Stockholm's (one stored with
/// Kolada's leading zero, one without), and a network of similar municipalities.
struct Country {
    jamtland: String,
    krokom: String,
    ostersund: String,
    harjedalen: String,
    are: String,
    stockholm: String,
    vasby: String,
    network: String,
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

async fn country(app: &TestApp) -> Country {
    let jamtland = organization(app, "Region Jämtland Härjedalen", "region", "23", None).await;
    let stockholm_region = organization(app, "Region Stockholm", "region", "01", None).await;
    let krokom = organization(app, "Krokoms kommun", "municipality", "2309", Some(&jamtland)).await;
    let ostersund = organization(app, "Östersunds kommun", "municipality", "2380", Some(&jamtland)).await;
    let harjedalen = organization(app, "Härjedalens kommun", "municipality", "2361", Some(&jamtland)).await;
    let are = organization(app, "Åre kommun", "municipality", "2321", Some(&jamtland)).await;
    let stockholm = organization(app, "Stockholms stad", "municipality", "0180", Some(&stockholm_region)).await;
    let vasby = organization(
        app,
        "Upplands Väsby kommun",
        "municipality",
        "114",
        Some(&stockholm_region),
    )
    .await;
    let body = json!({"name": "Liknande kommuner", "kind": "network",
        "member_ids": [krokom, harjedalen, vasby]});
    let network = app
        .post("/v1/organizations", Some(&app.root_token()), &body)
        .await
        .created()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    Country {
        jamtland,
        krokom,
        ostersund,
        harjedalen,
        are,
        stockholm,
        vasby,
        network,
    }
}

fn indicator_body(code: &str, direction: &str) -> Value {
    json!({"code": code, "title": "Brukarbedömning hemtjänst äldreomsorg - helhetssyn, andel (%)",
        "unit": "percent", "direction": direction, "source": "kolada", "update_frequency": "yearly",
        "target": 90})
}

async fn create_indicator(app: &TestApp, code: &str, direction: &str) -> String {
    app.post(
        "/v1/indicators",
        Some(&app.root_token()),
        &indicator_body(code, direction),
    )
    .await
    .created()["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn put_values(app: &TestApp, indicator: &str, token: &str, values: Value) -> Reply {
    app.request(
        Method::PUT,
        &format!("/v1/indicators/{indicator}/values"),
        Some(token),
        Some(&json!({ "values": values })),
    )
    .await
}

async fn import_kolada(app: &TestApp, text: &str) -> Value {
    let body: Value = serde_json::from_str(text).expect("fixture is JSON");
    app.post("/v1/indicators/import/kolada", Some(&app.root_token()), &body)
        .await
        .ok()
}

fn of_type<'a>(events: &'a [Value], event_type: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == event_type).collect()
}

fn value_of(values: &Value, organization: &str, period: &str, gender: &str) -> Option<Value> {
    values["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|v| v["organization_id"] == organization && v["period"] == period && v["gender"] == gender)
        .map(|v| v["value"].clone())
}

fn assert_close(actual: &Value, expected: f64) {
    let actual = actual.as_f64().unwrap_or_else(|| panic!("a number, got {actual}"));
    assert!((actual - expected).abs() < 1e-9, "expected {expected}, got {actual}");
}

backend_tests! {
    async fn editors_create_and_change_indicators_and_codes_are_unique(app: TestApp) {
        let krokom = organization(&app, "Krokoms kommun", "municipality", "2309", None).await;
        let before = app.head_seq().await;
        let created = app
            .post("/v1/indicators", Some(&app.root_token()), &indicator_body("U21468", "increasing"))
            .await
            .created();
        assert_eq!(created["code"], "U21468");
        assert_eq!(created["unit"], "percent");
        assert_eq!(created["direction"], "increasing");
        assert_eq!(created["source"], "kolada");
        assert_eq!(created["update_frequency"], "yearly");
        assert_eq!(created["target"], 90.0);
        assert_eq!(created["stale"], false);
        assert_eq!(created["revision"], 1);
        assert_eq!(created["organization_id"], ROOT_ORGANIZATION_ID);
        let id = created["id"].as_str().expect("id").to_owned();

        let duplicate = app
            .post("/v1/indicators", Some(&app.root_token()), &indicator_body("U21468", "decreasing"))
            .await;
        duplicate.problem(409);

        let reader = app.token(ROOT_ORGANIZATION_ID, &[Role::Reader]);
        app.post("/v1/indicators", Some(&reader), &indicator_body("U00001", "increasing"))
            .await
            .problem(403);
        app.post("/v1/indicators", None, &indicator_body("U00002", "increasing"))
            .await
            .problem(401);

        // Indicators are public material.
        let read = app.get(&format!("/v1/indicators/{id}"), None).await.ok();
        assert_eq!(read["code"], "U21468");
        let list = app.get("/v1/indicators?code=U21468", None).await.ok();
        assert_eq!(list["items"].as_array().expect("items").len(), 1);

        // A municipality's editor keeps its own indicators but cannot change national ones.
        let krokom_editor = app.token(&krokom, &[Role::Editor]);
        let mut own = indicator_body("KROKOM-1", "increasing");
        own["organization_id"] = json!(krokom);
        app.post("/v1/indicators", Some(&krokom_editor), &own).await.created();
        app.patch(&format!("/v1/indicators/{id}"), Some(&krokom_editor), &json!({"title": "x"}))
            .await
            .problem(403);

        let patched = app
            .patch(
                &format!("/v1/indicators/{id}"),
                Some(&app.root_token()),
                &json!({"target": 95, "update_frequency": "tertial"}),
            )
            .await
            .ok();
        assert_eq!(patched["target"], 95.0);
        assert_eq!(patched["update_frequency"], "tertial");
        assert_eq!(patched["revision"], 2);
        app.patch(&format!("/v1/indicators/{id}"), Some(&app.root_token()), &json!({"code": "KROKOM-1"}))
            .await
            .problem(409);
        app.patch(&format!("/v1/indicators/{id}"), Some(&app.root_token()), &json!({"title": null}))
            .await
            .problem(422);

        let events = app.events_after(before).await;
        assert_eq!(of_type(&events, "indicator.created").len(), 2);
        let updated = of_type(&events, "indicator.updated");
        assert_eq!(updated.len(), 1);
        assert_eq!(updated[0]["data"]["changes"], json!(["update_frequency", "target"]));
    }

    async fn anonymous_reads_stop_when_public_read_is_off(app: TestApp) {
        let id = create_indicator(&app, "U21468", "increasing").await;
        let closed = app.restart_with(|settings| settings.public_read = false);
        closed.get(&format!("/v1/indicators/{id}"), None).await.problem(401);
        closed.get("/v1/indicators", None).await.problem(401);
        let reader = closed.token(ROOT_ORGANIZATION_ID, &[Role::Reader]);
        closed.get(&format!("/v1/indicators/{id}"), Some(&reader)).await.ok();
    }

    async fn a_values_batch_keeps_missing_values_missing_and_appends_one_event(app: TestApp) {
        let c = country(&app).await;
        let id = create_indicator(&app, "U21468", "increasing").await;
        let before = app.head_seq().await;
        let summary = put_values(&app, &id, &app.root_token(), json!([
            {"organization_id": c.krokom, "period": "2016", "gender": "T", "value": 87.0},
            {"organization_id": c.krokom, "period": "2016", "gender": "K", "value": null},
            {"organization_id": c.ostersund, "period": "2016", "gender": "T", "value": 0},
        ]))
        .await
        .ok();
        assert_eq!(summary["upserted"], 3);
        assert_eq!(summary["missing"], 1);
        assert_eq!(summary["unchanged"], 0);

        let values = app.get(&format!("/v1/indicators/{id}/values"), None).await.ok();
        assert_eq!(value_of(&values, &c.krokom, "2016", "T"), Some(json!(87.0)));
        assert_eq!(value_of(&values, &c.krokom, "2016", "K"), Some(Value::Null), "missing stays missing");
        assert_eq!(value_of(&values, &c.ostersund, "2016", "T"), Some(json!(0.0)), "a real 0 stays 0");

        let events = app.events_after(before).await;
        let imported = of_type(&events, "indicator.values_imported");
        assert_eq!(events.len(), 1);
        assert_eq!(imported[0]["subject"]["id"], id.as_str());
        assert_eq!(imported[0]["data"]["upserted"], 3);
        assert_eq!(imported[0]["data"]["missing"], 1);
        let mut organizations = vec![c.krokom.clone(), c.ostersund.clone()];
        organizations.sort();
        assert_eq!(imported[0]["data"]["organization_ids"], json!(organizations));

        // The same batch again changes nothing and appends nothing.
        let head = app.head_seq().await;
        let again = put_values(&app, &id, &app.root_token(), json!([
            {"organization_id": c.krokom, "period": "2016", "gender": "K", "value": null},
        ]))
        .await
        .ok();
        assert_eq!(again["unchanged"], 1);
        assert_eq!(app.head_seq().await, head);

        // Filters.
        let filtered = app
            .get(&format!("/v1/indicators/{id}/values?organization_id={}&gender=K", c.krokom), None)
            .await
            .ok();
        assert_eq!(filtered["items"].as_array().expect("items").len(), 1);
        let by_period = app.get(&format!("/v1/indicators/{id}/values?period=2015"), None).await.ok();
        assert!(by_period["items"].as_array().expect("items").is_empty());

        // 2016 is long past for a yearly indicator; last year's value is fresh.
        assert_eq!(app.get(&format!("/v1/indicators/{id}"), None).await.ok()["stale"], true);
        let last_year = (chrono::Utc::now().year() - 1).to_string();
        put_values(&app, &id, &app.root_token(), json!([
            {"organization_id": c.krokom, "period": last_year, "gender": "T", "value": 88.0},
        ]))
        .await
        .ok();
        let fresh = app.get(&format!("/v1/indicators/{id}"), None).await.ok();
        assert_eq!(fresh["stale"], false);
        assert_eq!(fresh["newest_period"], last_year.as_str());

        // Values of another municipality are outside a municipality editor's scope.
        let krokom_editor = app.token(&c.krokom, &[Role::Editor]);
        put_values(&app, &id, &krokom_editor, json!([
            {"organization_id": c.ostersund, "period": "2016", "gender": "T", "value": 1.0},
        ]))
        .await
        .problem(403);
        put_values(&app, &id, &krokom_editor, json!([
            {"organization_id": c.krokom, "period": "2016", "gender": "M", "value": 85.0},
        ]))
        .await
        .ok();
        put_values(&app, &id, &app.root_token(), json!([
            {"organization_id": c.krokom, "period": "16", "gender": "X", "value": 1.0},
        ]))
        .await
        .problem(422);
    }

    async fn the_kolada_import_maps_codes_and_keeps_missing_values_missing(app: TestApp) {
        let c = country(&app).await;
        let id = create_indicator(&app, "U21468", "increasing").await;
        let before = app.head_seq().await;
        let summary = import_kolada(&app, KOLADA_2016).await;
        assert_eq!(summary["upserted"], 13);
        assert_eq!(summary["missing"], 2);
        assert_eq!(summary["removed"], 0);
        assert_eq!(summary["skipped"], 2);
        assert_eq!(summary["unknown_kpis"], json!(["U99999"]));
        assert_eq!(summary["unmapped_codes"], json!(["1480"]));
        assert_eq!(summary["indicators"][0]["code"], "U21468");

        let values = app.get(&format!("/v1/indicators/{id}/values?limit=500"), None).await.ok();
        assert_eq!(values["items"].as_array().expect("items").len(), 13);
        assert_eq!(value_of(&values, &c.krokom, "2016", "K"), Some(json!(89.0)));
        assert_eq!(value_of(&values, &c.krokom, "2016", "M"), Some(json!(84.0)));
        assert_eq!(value_of(&values, &c.ostersund, "2016", "K"), Some(Value::Null));
        assert_eq!(value_of(&values, &c.harjedalen, "2016", "T"), Some(Value::Null));
        assert_eq!(value_of(&values, &c.stockholm, "2016", "T"), Some(json!(79.0)), "0180 as written");
        assert_eq!(value_of(&values, &c.vasby, "2016", "T"), Some(json!(85.0)), "0114 without its zero");
        assert_eq!(value_of(&values, ROOT_ORGANIZATION_ID, "2016", "T"), Some(json!(84.0)), "0000 is Sverige");

        let events = app.events_after(before).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["type"], "indicator.values_imported");
        assert_eq!(events[0]["data"]["source"], "kolada");

        // Tombstones remove values; a later figure replaces a missing one.
        let update = import_kolada(&app, KOLADA_UPDATE).await;
        assert_eq!(update["removed"], 2);
        assert_eq!(update["upserted"], 1);
        let values = app.get(&format!("/v1/indicators/{id}/values?limit=500"), None).await.ok();
        assert_eq!(value_of(&values, &c.are, "2016", "T"), None);
        assert_eq!(value_of(&values, &c.ostersund, "2016", "M"), None);
        assert_eq!(value_of(&values, &c.harjedalen, "2016", "T"), Some(json!(78.0)));
        assert_eq!(of_type(&app.events_after(before).await, "indicator.values_imported").len(), 2);

        // The same file again changes nothing and appends nothing.
        let head = app.head_seq().await;
        let again = import_kolada(&app, KOLADA_2016).await;
        assert_eq!(again["unchanged"], 10);
        assert_eq!(app.head_seq().await, head + 1, "the re-added values are one event");

        // A region's editor imports only in its scope; the rest is reported.
        let region_editor = app.token(&c.jamtland, &[Role::Editor]);
        let body: Value = serde_json::from_str(KOLADA_2016).expect("json");
        let scoped = app.post("/v1/indicators/import/kolada", Some(&region_editor), &body).await.ok();
        assert_eq!(scoped["out_of_scope_codes"], json!(["0000", "0114", "0180"]));
        let reader = app.token(&c.jamtland, &[Role::Reader]);
        app.post("/v1/indicators/import/kolada", Some(&reader), &body).await.problem(403);
        let bad = json!({"values": [{"kpi": "U21468", "municipality": "2309", "period": 2016,
            "values": [{"gender": "X", "value": 1}]}]});
        app.post("/v1/indicators/import/kolada", Some(&app.root_token()), &bad).await.problem(422);
    }

    async fn the_comparison_matches_figures_computed_by_hand(app: TestApp) {
        let c = country(&app).await;
        let id = create_indicator(&app, "U21468", "increasing").await;
        import_kolada(&app, KOLADA_2016).await;
        // 2016, gender T, municipalities with a value: Krokom 87, Östersund 82, Åre 91,
        // Stockholm 79, Upplands Väsby 85 (Härjedalen missing; Sverige is no municipality).
        let comparison = app
            .get(
                &format!(
                    "/v1/indicators/{id}/comparison?organization_id={}&period=2016&similar_network_id={}",
                    c.krokom, c.network
                ),
                None,
            )
            .await
            .ok();
        assert_eq!(comparison["indicator_id"], id.as_str());
        assert_eq!(comparison["period"], "2016");
        assert_eq!(comparison["organization"]["value"], 87.0);
        assert_eq!(comparison["organization"]["rank"], 2, "only Åre's 91 is better");
        assert_eq!(comparison["organization"]["of"], 5);
        assert_eq!(comparison["county"]["id"], c.jamtland.as_str());
        assert_close(&comparison["county"]["mean"], (87.0 + 82.0 + 91.0) / 3.0);
        assert_eq!(comparison["county"]["n"], 3);
        assert_close(&comparison["national"]["mean"], (87.0 + 82.0 + 91.0 + 79.0 + 85.0) / 5.0);
        assert_eq!(comparison["national"]["n"], 5);
        assert_eq!(comparison["similar"]["network_id"], c.network.as_str());
        assert_close(&comparison["similar"]["mean"], (87.0 + 85.0) / 2.0);
        assert_eq!(comparison["similar"]["n"], 2);
        assert_eq!(comparison["target"], json!({"value": 90.0, "met": false}));
        assert_eq!(
            comparison["trend"],
            json!([{"period": "2014", "value": 80.0}, {"period": "2015", "value": 84.0},
                   {"period": "2016", "value": 87.0}])
        );

        // Without a network there is no `similar`; Åre meets the target.
        let are = app
            .get(&format!("/v1/indicators/{id}/comparison?organization_id={}&period=2016", c.are), None)
            .await
            .ok();
        assert!(are.get("similar").is_none());
        assert_eq!(are["organization"]["rank"], 1);
        assert_eq!(are["target"]["met"], true);

        // Lower is better: Stockholm's 79 ranks first, Krokom's 87 fourth.
        let lower = create_indicator(&app, "U21469", "decreasing").await;
        let values: Vec<Value> = [(&c.krokom, 87.0), (&c.ostersund, 82.0), (&c.are, 91.0), (&c.stockholm, 79.0), (&c.vasby, 85.0)]
            .into_iter()
            .map(|(org, value)| json!({"organization_id": org, "period": "2016", "gender": "T", "value": value}))
            .collect();
        put_values(&app, &lower, &app.root_token(), json!(values)).await.ok();
        let krokom = app
            .get(&format!("/v1/indicators/{lower}/comparison?organization_id={}&period=2016", c.krokom), None)
            .await
            .ok();
        assert_eq!(krokom["organization"]["rank"], 4);
        assert_eq!(krokom["target"]["met"], true, "87 ≤ 90");
        let stockholm = app
            .get(&format!("/v1/indicators/{lower}/comparison?organization_id={}&period=2016", c.stockholm), None)
            .await
            .ok();
        assert_eq!(stockholm["organization"]["rank"], 1);
        assert!(stockholm["county"].is_object());

        app.get(&format!("/v1/indicators/{id}/comparison?period=2016"), None)
            .await
            .problem(400);
        app.get(
            &format!("/v1/indicators/{id}/comparison?organization_id={}&period=2016&similar_network_id={}", c.krokom, c.jamtland),
            None,
        )
        .await
        .problem(422);
    }

    async fn an_organization_answers_stale_when_its_newest_value_is_too_old(app: TestApp) {
        let c = country(&app).await;
        let id = create_indicator(&app, "U21468", "increasing").await;
        let this_year = chrono::Utc::now().format("%Y").to_string().parse::<i32>().expect("year");
        let values = json!([
            {"organization_id": c.krokom, "period": "2016", "gender": "T", "value": 87.0},
            {"organization_id": c.ostersund, "period": (this_year - 1).to_string(), "gender": "T", "value": 80.0},
            {"organization_id": c.are, "period": "2016", "gender": "T", "value": null}
        ]);
        put_values(&app, &id, &app.root_token(), values).await.ok();
        let krokom = app.get(&format!("/v1/organizations/{}", c.krokom), Some(&app.root_token())).await.ok();
        assert_eq!(krokom["stale"], true, "a yearly value from 2016 is stale");
        assert_eq!(krokom["stale_indicator_ids"], json!([id]));
        let ostersund = app.get(&format!("/v1/organizations/{}", c.ostersund), Some(&app.root_token())).await.ok();
        assert_eq!(ostersund["stale"], false, "last year's value is current");
        let are = app.get(&format!("/v1/organizations/{}", c.are), Some(&app.root_token())).await.ok();
        assert_eq!(are["stale"], false, "a missing value is no value: nothing to be stale");
        let list = app.get("/v1/organizations?code=2309", Some(&app.root_token())).await.ok();
        assert_eq!(list["items"][0]["stale"], true);
    }
}
