//! Router-level tests: the whole facade (layers + routes) over an in-process fake gRPC server,
//! driven with `tower::ServiceExt::oneshot` — no sockets. Cross-cutting behaviour (auth, CORS,
//! security headers, request id, body limit, 404/405) lives here; route families in `routes.rs`.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use caduceus_proto::v1::chat_service_server::ChatServiceServer;
use caduceus_proto::v1::discovery_service_server::DiscoveryServiceServer;
use caduceus_proto::v1::session_service_server::SessionServiceServer;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{FacadeOptions, router, transport_from_service};

mod fake_sessions;
mod fakes;
mod routes;

use fake_sessions::FakeSessions;
use fakes::{FakeChat, FakeDiscovery, KEY};

/// The facade over the fakes, with `origins` as the CORS list.
fn app_with(origins: &[&str], chat: FakeChat) -> axum::Router {
    let grpc = tonic::service::Routes::new(DiscoveryServiceServer::new(FakeDiscovery))
        .add_service(ChatServiceServer::new(chat))
        .add_service(SessionServiceServer::new(FakeSessions))
        .into_axum_router()
        .layer(axum::middleware::from_fn(fakes::fake_auth));
    let options = FacadeOptions {
        cors_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        ..FacadeOptions::default()
    };
    router(transport_from_service(grpc), options)
}

fn app() -> axum::Router {
    app_with(&[], FakeChat::default())
}

/// A finished response: status, headers and the body bytes as text.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn send(app: axum::Router, request: Request<Body>) -> Reply {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// An authorized request.
fn req(method: &str, uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", KEY)
        .body(body.into())
        .unwrap()
}

fn error_of(reply: &Reply) -> Value {
    reply.json()["error"].clone()
}

#[tokio::test]
async fn missing_authorization_is_401_with_the_exact_body() {
    for uri in ["/v1/models", "/api/sessions", "/health/detailed"] {
        let request = Request::get(uri).body(Body::empty()).unwrap();
        let reply = send(app(), request).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(
            reply.json(),
            json!({"error":{"message":"Invalid API key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})
        );
    }
    let request = Request::post("/v1/chat/completions")
        .header("authorization", "Basic abc")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(app(), request).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn wrong_key_comes_back_from_the_server_as_the_same_401() {
    let request = Request::get("/v1/models")
        .header("authorization", "Bearer wrong")
        .body(Body::empty())
        .unwrap();
    let reply = send(app(), request).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.json(),
        json!({"error":{"message":"Invalid API key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})
    );
}

#[tokio::test]
async fn health_needs_no_auth() {
    for uri in ["/health", "/v1/health"] {
        let reply = send(app(), Request::get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.json(),
            json!({"status":"ok","platform":"hermes-agent","version":"0.1.0"})
        );
    }
}

#[tokio::test]
async fn security_headers_and_request_id_on_every_response() {
    let health = send(app(), Request::get("/health").body(Body::empty()).unwrap()).await;
    let missing = send(app(), req("GET", "/nope", Body::empty())).await;
    let unauth = send(
        app(),
        Request::get("/v1/models").body(Body::empty()).unwrap(),
    )
    .await;
    for reply in [&health, &missing, &unauth] {
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(reply.header("x-frame-options"), Some("DENY"));
        assert_eq!(reply.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(
            reply.header("content-security-policy"),
            Some("default-src 'none'; frame-ancestors 'none'")
        );
        let id = reply.header("x-request-id").unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
    let request = Request::get("/health")
        .header("x-request-id", "client-id-123")
        .body(Body::empty())
        .unwrap();
    let reply = send(app(), request).await;
    assert_eq!(reply.header("x-request-id"), Some("client-id-123"));
}

#[tokio::test]
async fn unknown_route_is_404_and_wrong_method_is_405_envelopes() {
    let reply = send(app(), req("GET", "/v1/nothing", Body::empty())).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&reply)["code"], "not_found");
    let reply = send(app(), req("PUT", "/v1/models", Body::empty())).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    let error = error_of(&reply);
    assert_eq!(error["code"], "method_not_allowed");
    assert!(error.as_object().unwrap().contains_key("param"));
}

#[tokio::test]
async fn cors_refuses_origins_when_none_configured_even_on_health() {
    let request = Request::get("/health")
        .header("origin", "https://evil.example")
        .body(Body::empty())
        .unwrap();
    let reply = send(app(), request).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(error_of(&reply)["code"], "cors_forbidden");
    assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    assert!(reply.header("x-request-id").is_some());
}

#[tokio::test]
async fn cors_allowed_origin_gets_headers_and_others_403() {
    let app = app_with(&["https://app.example"], FakeChat::default());
    let request = Request::get("/v1/models")
        .header("origin", "https://app.example")
        .header("authorization", KEY)
        .body(Body::empty())
        .unwrap();
    let reply = send(app.clone(), request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(reply.header("vary"), Some("Origin"));
    assert_eq!(
        reply.header("access-control-expose-headers"),
        Some("X-Hermes-Session-Id, X-Hermes-Session-Key, X-Request-Id, Idempotency-Replayed")
    );
    // Errors carry the CORS headers too.
    let request = Request::get("/v1/models")
        .header("origin", "https://app.example")
        .body(Body::empty())
        .unwrap();
    let reply = send(app.clone(), request).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://app.example")
    );

    let request = Request::get("/v1/models")
        .header("origin", "https://other.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app, request).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn cors_preflight() {
    let app = app_with(&["https://app.example"], FakeChat::default());
    let request = Request::options("/v1/chat/completions")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, X-Stainless-Os, x-stainless-lang, X-Evil",
        )
        .body(Body::empty())
        .unwrap();
    let reply = send(app, request).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let methods = reply.header("access-control-allow-methods").unwrap();
    assert_eq!(methods, "GET, POST, PATCH, DELETE, OPTIONS");
    let headers = reply.header("access-control-allow-headers").unwrap();
    assert!(headers.starts_with(
        "Authorization, Content-Type, Idempotency-Key, X-Hermes-Session-Id, X-Hermes-Session-Key, X-Request-Id"
    ));
    assert!(headers.contains("X-Stainless-Os"));
    assert!(headers.contains("x-stainless-lang"));
    assert!(!headers.to_ascii_lowercase().contains("x-evil"));
    assert_eq!(reply.header("access-control-max-age"), Some("600"));
}

#[tokio::test]
async fn cors_wildcard_allows_any_origin() {
    let app = app_with(&["*"], FakeChat::default());
    let request = Request::get("/health")
        .header("origin", "https://anything.example")
        .body(Body::empty())
        .unwrap();
    let reply = send(app, request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://anything.example")
    );
}

#[tokio::test]
async fn body_errors_through_the_router() {
    let post = |body: &'static [u8]| req("POST", "/v1/chat/completions", body);
    let reply = send(app(), post(b"{not json")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&reply)["code"], "invalid_json");
    let reply = send(app(), post(b"[1,2]")).await;
    assert_eq!(error_of(&reply)["code"], "invalid_request");
    let reply = send(app(), post(b"")).await;
    assert_eq!(error_of(&reply)["code"], "invalid_json");
    let reply = send(
        app(),
        post(br#"{"messages":[{"role":"user","content":5}]}"#),
    )
    .await;
    assert_eq!(error_of(&reply)["param"], "messages[0].content");
    assert_eq!(error_of(&reply)["type"], "invalid_request_error");
}

#[tokio::test]
async fn eleven_megabytes_is_413_with_and_without_content_length() {
    let big = vec![b' '; 11_000_000];
    let mut request = req("POST", "/v1/chat/completions", big.clone());
    request
        .headers_mut()
        .insert("content-length", big.len().into());
    let reply = send(app(), request).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_of(&reply)["code"], "body_too_large");

    // Streamed (no Content-Length): cut while reading.
    let chunks = big
        .chunks(1_000_000)
        .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
        .collect::<Vec<_>>();
    let body = Body::from_stream(futures::stream::iter(chunks));
    let reply = send(app(), req("POST", "/api/sessions", body)).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_of(&reply)["code"], "body_too_large");
}

#[tokio::test]
async fn internal_errors_do_not_leak() {
    let body = r#"{"messages":[{"role":"user","content":"boom"}]}"#;
    let reply = send(app(), req("POST", "/v1/chat/completions", body)).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!reply.text.contains("secret"));
    assert_eq!(error_of(&reply)["type"], "server_error");
}
