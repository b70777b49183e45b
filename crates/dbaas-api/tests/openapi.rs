//! The checked-in OpenAPI document is the one the code generates.
//! After changing the API, regenerate it with
//! `DBAAS_UPDATE_OPENAPI=1 cargo test -p dbaas-api --test openapi`.

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/dbaas-v1.json");

#[test]
fn the_checked_in_openapi_document_matches_the_code() {
    let generated = dbaas_api::openapi_json();
    if std::env::var_os("DBAAS_UPDATE_OPENAPI").is_some() {
        std::fs::write(CHECKED_IN, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi/dbaas-v1.json differs from what the code generates; regenerate it with \
         `DBAAS_UPDATE_OPENAPI=1 cargo test -p dbaas-api --test openapi` and review the diff"
    );
}

#[test]
fn the_document_describes_every_route() {
    let doc: serde_json::Value = serde_json::from_str(&dbaas_api::openapi_json()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/health", "get"),
        ("/v1/openapi.json", "get"),
        ("/v1/databases", "get"),
        ("/v1/databases", "post"),
        ("/v1/databases/{name}", "get"),
        ("/v1/databases/{name}", "delete"),
        ("/v1/databases/{name}/connection", "get"),
        ("/v1/databases/{name}/sql-jobs", "post"),
        ("/v1/sql-jobs/{id}", "get"),
        ("/v1/operations", "get"),
        ("/v1/operations/{id}", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    // Mutations answer 202 with their operation.
    let create = &paths["/v1/databases"]["post"]["responses"]["202"];
    assert!(create["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap()
        .ends_with("/Operation"));
}
