//! The OpenAPI document is a contract: the committed `openapi/openapi.json`
//! must be exactly what the code generates, so every contract change is a
//! visible diff. `UPDATE_OPENAPI=1 cargo test -p planledger-tests --test openapi`
//! rewrites the file after an intended change.

use serde_json::Value;

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let generated = planledger_api::api_doc_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(planledger_openapi::COMMITTED_PATH);
        std::fs::write(&path, &generated).expect("write openapi.json");
        return;
    }
    assert!(
        generated == planledger_openapi::COMMITTED,
        "openapi/openapi.json differs from the code's document; if the change is intended, run \
         `UPDATE_OPENAPI=1 cargo test -p planledger-tests --test openapi` and commit the file"
    );
}

#[test]
fn the_document_is_openapi_3_1_and_documents_every_contract_path() {
    let document: Value = serde_json::from_str(&planledger_api::api_doc_json()).expect("JSON");
    assert!(document["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")));
    let paths = document["paths"].as_object().expect("paths");
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/organizations",
        "/v1/organizations/{id}",
        "/v1/plans",
        "/v1/plans/{id}",
        "/v1/plans/{id}/transitions",
        "/v1/plans/{id}/changelog",
        "/v1/plans/{id}/history",
        "/v1/plans/{id}/goals",
        "/v1/goals/{id}",
        "/v1/goals/{id}/activities",
        "/v1/activities/{id}",
        "/v1/events",
        "/v1/events/verify",
        "/v1/import/plans",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    let schemas = document["components"]["schemas"].as_object().expect("schemas");
    for schema in [
        "Problem",
        "Plan",
        "PlanDetail",
        "Goal",
        "Activity",
        "Event",
        "TransitionRequest",
    ] {
        assert!(schemas.contains_key(schema), "schema {schema} is documented");
    }
}
