//! Body limits, malformed JSON and the headers every response carries.

use caduceus_tests::app::TestApp;
use serde_json::Value;

#[tokio::test]
async fn eleven_megabyte_body_gets_413_envelope() {
    let app = TestApp::spawn().await;
    let big = format!(
        r#"{{"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(11_000_000)
    );
    let response = app
        .post("/v1/chat/completions")
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "body_too_large");
    app.stop().await;
}

#[tokio::test]
async fn malformed_json_wrong_shape_and_wrong_types_are_400s() {
    let app = TestApp::spawn().await;
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("{not json", "invalid_json", None),
        ("[1,2,3]", "invalid_request", None),
        (
            r#"{"messages":"hello"}"#,
            "invalid_request",
            Some("messages"),
        ),
        (
            r#"{"messages":[],"stream":"yes"}"#,
            "invalid_request",
            Some("stream"),
        ),
    ];
    for (body, code, param) in cases {
        let response = app
            .post("/v1/chat/completions")
            .header("content-type", "application/json")
            .body(*body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let json: Value = response.json().await.unwrap();
        assert_eq!(json["error"]["code"], *code, "{body}");
        assert_eq!(json["error"]["type"], "invalid_request_error", "{body}");
        if let Some(param) = param {
            assert_eq!(json["error"]["param"], *param, "{body}");
        }
        for key in ["message", "type", "param", "code"] {
            assert!(json["error"].get(key).is_some(), "{key} missing for {body}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn responses_carry_request_id_and_security_headers() {
    let app = TestApp::spawn().await;
    let response = app
        .get("/v1/models")
        .header("x-request-id", "req-abc-123")
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    assert_eq!(headers["x-request-id"], "req-abc-123");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    let response = app.get("/no/such/route").send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["code"].is_string());
    app.stop().await;
}
