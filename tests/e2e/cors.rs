//! CORS exactly as API.md §2: unknown origins get a 403 envelope everywhere, allowed origins get
//! the listed headers, preflights echo `X-Stainless-*` (browser SDKs) and allow PATCH.

use std::collections::HashMap;

use caduceus_tests::app::{TestApp, TestOptions};
use serde_json::Value;

async fn app_with_origins(origins: &str) -> TestApp {
    TestApp::spawn_with(TestOptions {
        env: HashMap::from([("API_SERVER_CORS_ORIGINS".to_owned(), origins.to_owned())]),
        ..TestOptions::default()
    })
    .await
}

#[tokio::test]
async fn origin_without_configuration_is_forbidden_even_on_health() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .get(app.url("/health"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "cors_forbidden");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"].get("param").is_some());
    // Without an Origin header (server-to-server) the same route works.
    let response = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn unlisted_origin_is_forbidden_and_listed_origin_gets_headers() {
    let app = app_with_origins("https://tu-dominio.es, https://app.tu-dominio.es").await;
    let response = app
        .get("/v1/models")
        .header("origin", "https://other.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    let response = app
        .get("/v1/models")
        .header("origin", "https://app.tu-dominio.es")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.tu-dominio.es"
    );
    assert!(headers["vary"].to_str().unwrap().contains("Origin"));
    let exposed = headers["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "x-hermes-session-id",
        "x-hermes-session-key",
        "x-request-id",
        "idempotency-replayed",
    ] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }
    app.stop().await;
}

#[tokio::test]
async fn preflight_lists_methods_and_headers_including_stainless() {
    let app = app_with_origins("https://tu-dominio.es").await;
    let response = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/v1/chat/completions"))
        .header("origin", "https://tu-dominio.es")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, x-stainless-os, x-stainless-lang, x-evil",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let headers = response.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://tu-dominio.es"
    );
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    for method in ["GET", "POST", "PATCH", "DELETE", "OPTIONS"] {
        assert!(methods.contains(method), "{method} missing: {methods}");
    }
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "authorization",
        "content-type",
        "idempotency-key",
        "x-hermes-session-id",
        "x-hermes-session-key",
        "x-request-id",
        "x-stainless-os",
        "x-stainless-lang",
    ] {
        assert!(allowed.contains(name), "{name} not allowed: {allowed}");
    }
    assert!(
        !allowed.contains("x-evil"),
        "unexpected header allowed: {allowed}"
    );
    assert_eq!(headers["access-control-max-age"], "600");
    app.stop().await;
}

#[tokio::test]
async fn wildcard_allows_any_origin() {
    let app = app_with_origins("*").await;
    let response = app
        .get("/v1/models")
        .header("origin", "https://anything.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .contains_key("access-control-allow-origin")
    );
    app.stop().await;
}
