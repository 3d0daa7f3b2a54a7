//! The document against the served route table and the contract's conventions.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{OPEN, PATH, document};

fn doc() -> Value {
    serde_json::from_str(document()).unwrap()
}

/// `(METHOD, path, operation_id)` of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap().to_owned();
            out.insert((method.to_uppercase(), path.clone(), id));
        }
    }
    out
}

#[test]
fn documents_exactly_the_served_routes() {
    let mut served: BTreeSet<(String, String, String)> = crate::routes::all()
        .into_iter()
        .chain([crate::telemetry::metrics_route()])
        .map(|route| {
            let spec = route.spec;
            (
                spec.method.to_string(),
                spec.path.to_owned(),
                spec.name.to_owned(),
            )
        })
        .collect();
    served.insert(("GET".into(), PATH.into(), "openapi".into()));
    assert_eq!(operations(&doc()), served);
}

#[test]
fn bearer_everywhere_except_the_open_routes() {
    let doc = doc();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["security"][0]["bearer"], serde_json::json!([]));
    for (_, path, _) in operations(&doc) {
        for (_, operation) in doc["paths"][&path].as_object().unwrap() {
            let open = OPEN.contains(&path.as_str());
            assert_eq!(
                operation.get("security") == Some(&serde_json::json!([])),
                open,
                "{path}"
            );
            assert_eq!(operation["responses"].get("401").is_some(), !open, "{path}");
        }
    }
}

#[test]
fn every_operation_documents_the_error_envelope() {
    let doc = doc();
    let envelope = &doc["components"]["schemas"]["ErrorEnvelope"];
    assert_eq!(envelope["required"], serde_json::json!(["error"]));
    let body = &doc["components"]["schemas"]["ErrorBody"];
    let required: BTreeSet<&str> = body["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key.as_str().unwrap())
        .collect();
    assert_eq!(
        required,
        BTreeSet::from(["message", "type", "param", "code"])
    );
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            for status in ["400", "default"] {
                let schema =
                    &operation["responses"][status]["content"]["application/json"]["schema"];
                assert_eq!(schema["$ref"], "#/components/schemas/ErrorEnvelope");
            }
        }
    }
}

#[test]
fn request_bodies_are_the_parsers_types() {
    let doc = doc();
    let schemas = &doc["components"]["schemas"];
    let chat = &schemas["ChatCompletionRequest"];
    assert!(chat["properties"]["messages"].is_object());
    assert!(chat["properties"]["max_tokens"].is_object());
    assert_eq!(
        chat["additionalProperties"], true,
        "unknown keys are ignored"
    );
    assert_eq!(
        schemas["MessageBody"]["required"],
        serde_json::json!(["role"])
    );
    for name in [
        "CreateResponseBody",
        "CreateRunBody",
        "ApprovalBody",
        "CreateSessionBody",
        "ForkSessionBody",
        "SessionChatBody",
        "CreateJobBody",
    ] {
        assert!(schemas[name]["properties"].is_object(), "{name}");
    }
    assert_eq!(schemas["SessionPatch"]["additionalProperties"], false);
    assert_eq!(schemas["JobPatch"]["additionalProperties"], false);
    let body = &doc["paths"]["/v1/chat/completions"]["post"]["requestBody"];
    assert_eq!(
        body["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ChatCompletionRequest"
    );
}

#[test]
fn streaming_routes_offer_event_streams() {
    let doc = doc();
    for (path, method) in [
        ("/v1/chat/completions", "post"),
        ("/v1/responses", "post"),
        ("/v1/responses/{id}", "get"),
        ("/api/sessions/{id}/chat/stream", "post"),
        ("/v1/runs/{id}/events", "get"),
    ] {
        let content = &doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(status, _)| status.starts_with('2'))
            .unwrap()
            .1["content"];
        assert!(
            content.get("text/event-stream").is_some(),
            "{method} {path}"
        );
    }
}

#[test]
fn create_operations_link_to_what_they_created() {
    let doc = doc();
    let links = &doc["paths"]["/api/jobs"]["post"]["responses"]["201"]["links"];
    assert_eq!(links["jobs_run"]["operationId"], "jobs_run");
    assert_eq!(
        links["jobs_run"]["parameters"]["id"],
        "$response.body#/job/id"
    );
    let links = &doc["paths"]["/v1/runs"]["post"]["responses"]["202"]["links"];
    assert_eq!(
        links["runs_stop"]["parameters"]["id"],
        "$response.body#/run_id"
    );
    // Every link names an operation of the document.
    let ids: BTreeSet<String> = operations(&doc).into_iter().map(|(_, _, id)| id).collect();
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            for response in operation["responses"].as_object().unwrap().values() {
                for link in response["links"]
                    .as_object()
                    .into_iter()
                    .flat_map(|l| l.values())
                {
                    assert!(ids.contains(link["operationId"].as_str().unwrap()));
                }
            }
        }
    }
}

#[test]
#[ignore = "writes the document for inspection"]
fn dump() {
    std::fs::write("/tmp/badinput_openapi.json", document()).unwrap();
}
