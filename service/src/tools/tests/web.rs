//! `web_extract` against a local axum server on 127.0.0.1:0 (no external network).

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;
use serde_json::json;

use super::*;

const PAGE: &str = "<!DOCTYPE html><html><head><title>T</title><style>p{color:red}</style>\
    <script>var secret = 'do-not-show';</script></head><body><h1>Welcome</h1>\
    <p>Hello <b>agent</b>, read <a href=\"/docs\">the docs</a>.</p></body></html>";

async fn serve() -> String {
    let app = Router::new()
        .route(
            "/page",
            get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE) }),
        )
        .route(
            "/data.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], "{\"a\":1}") }),
        )
        .route(
            "/image.png",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "image/png")],
                    vec![0x89u8, b'P', 0, 1],
                )
            }),
        )
        .route(
            "/big",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/plain")],
                    "z".repeat(3 * 1024 * 1024),
                )
            }),
        )
        .route("/missing", get(|| async { (StatusCode::NOT_FOUND, "no") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn extracts_text_from_html_and_passes_text_through() {
    let fx = fixture().await;
    let base = serve().await;

    let out = fx
        .call("web_extract", json!({"url": format!("{base}/page")}))
        .await;
    assert!(!out.is_error, "{}", out.content);
    let value = json_of(&out);
    let content = value["content"].as_str().unwrap();
    assert!(
        content.contains("Welcome") && content.contains("Hello"),
        "{content}"
    );
    assert!(content.contains("agent"));
    assert!(
        !content.contains("<p>") && !content.contains("do-not-show"),
        "{content}"
    );
    assert_eq!(value["status"], 200);
    assert_eq!(value["truncated"], false);

    let out = fx
        .call("web_extract", json!({"url": format!("{base}/data.json")}))
        .await;
    assert_eq!(json_of(&out)["content"], "{\"a\":1}");

    let out = fx
        .call("web_extract", json!({"url": format!("{base}/big")}))
        .await;
    let value = json_of(&out);
    assert_eq!(value["truncated"], true);
    assert!(value["content"].as_str().unwrap().len() < 51 * 1024);
}

#[tokio::test]
async fn refuses_binary_errors_and_non_http_urls() {
    let fx = fixture().await;
    let base = serve().await;

    let out = fx
        .call("web_extract", json!({"url": format!("{base}/image.png")}))
        .await;
    assert!(error_of(&out).contains("binary"));
    let out = fx
        .call("web_extract", json!({"url": format!("{base}/missing")}))
        .await;
    assert!(error_of(&out).contains("404"));

    let out = fx
        .call("web_extract", json!({"url": "file:///etc/passwd"}))
        .await;
    assert!(error_of(&out).contains("only http and https"));
    let out = fx
        .call("web_extract", json!({"url": "ftp://example.com/x"}))
        .await;
    assert!(error_of(&out).contains("only http and https"));
    let out = fx.call("web_extract", json!({"url": "not a url"})).await;
    assert!(error_of(&out).contains("`url`"));
    let out = fx.call("web_extract", json!({})).await;
    assert!(error_of(&out).contains("`url`"));
}
