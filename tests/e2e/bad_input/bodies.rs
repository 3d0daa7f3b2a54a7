//! Request bodies: not JSON, not an object, not UTF-8, nested 10,000 deep, too large, fields of
//! the wrong type, out-of-range numbers, missing required fields — on every route that reads a
//! body (and junk bodies on the routes that do not must change nothing).

use caduceus_tests::app::{TestApp, TestOptions};
use caduceus_tests::fake_upstream::FakeUpstream;

use super::{Body, Checks, ROUTES, raw};

const UNKNOWN: &str = "bad-input-unknown";

/// Bodies that are not a JSON object, with the code each must get (param always null).
fn not_objects() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    vec![
        ("malformed", b"{not json".to_vec(), "invalid_json"),
        ("truncated", br#"{"messages": ["#.to_vec(), "invalid_json"),
        ("trailing garbage", br#"{"a":1} x"#.to_vec(), "invalid_json"),
        (
            "non-UTF-8",
            b"{\"title\":\"\xff\xfe\"}".to_vec(),
            "invalid_json",
        ),
        (
            "10,000 nested arrays",
            "[".repeat(10_000).into_bytes(),
            "invalid_json",
        ),
        (
            "10,000 nested objects",
            format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000)).into_bytes(),
            "invalid_json",
        ),
        ("array", b"[1,2]".to_vec(), "invalid_request"),
        ("number", b"42".to_vec(), "invalid_request"),
        ("string", br#""hello""#.to_vec(), "invalid_request"),
        ("null", b"null".to_vec(), "invalid_request"),
        ("boolean", b"true".to_vec(), "invalid_request"),
    ]
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_400_on_every_route() {
    let app = TestApp::spawn().await;
    let mut checks = Checks::default();
    for route in ROUTES {
        let target = route.target(UNKNOWN);
        for (label, body, code) in not_objects() {
            let what = format!("{} with {label} body", route.name());
            let reply = raw(&app, route.method, target.as_bytes(), &[], &body).await;
            match route.body {
                Body::Required | Body::Optional => {
                    checks.error(&what, &reply, 400, code, Some(None));
                }
                // A body the route never reads changes nothing.
                Body::None if route.has_id() => {
                    checks.error(&what, &reply, 404, route.not_found, None);
                }
                Body::None => {
                    checks.status(&what, reply.status);
                    if reply.status != 200 {
                        checks.fail(format!("{what}: status {}", reply.status));
                    }
                }
            }
        }
    }
    checks.finish();
    app.stop().await;
}

/// `(method, path, body, code, param)`: a field of the wrong type or out of range.
#[rustfmt::skip]
const WRONG_FIELDS: &[(&str, &str, &str, &str, &str)] = &[
    ("POST", "/v1/chat/completions", r#"{"messages":"hi"}"#, "invalid_request", "messages"),
    ("POST", "/v1/chat/completions", r#"{"messages":[{"role":1}]}"#, "invalid_request", "messages[0].role"),
    ("POST", "/v1/chat/completions", r#"{"messages":[{"content":"x"}]}"#, "invalid_request", "messages[0].role"),
    ("POST", "/v1/chat/completions", r#"{"messages":[{"role":"user","content":5}]}"#, "invalid_request", "messages[0].content"),
    ("POST", "/v1/chat/completions", r#"{"messages":[{"role":"user","content":[{"type":"audio"}]}]}"#, "unsupported_content_type", "messages[0].content[0].type"),
    ("POST", "/v1/chat/completions", r#"{"messages":[],"stream":"yes"}"#, "invalid_request", "stream"),
    ("POST", "/v1/chat/completions", r#"{"messages":[],"max_tokens":"10"}"#, "invalid_request", "max_tokens"),
    ("POST", "/v1/chat/completions", r#"{"messages":[],"max_tokens":1.5}"#, "invalid_request", "max_tokens"),
    ("POST", "/v1/chat/completions", r#"{"messages":[],"max_tokens":18446744073709551616}"#, "invalid_request", "max_tokens"),
    ("POST", "/v1/chat/completions", r#"{"messages":[],"max_tokens":-18446744073709551617}"#, "invalid_request", "max_tokens"),
    ("POST", "/v1/chat/completions", r#"{"messages":[],"max_tokens":1e400}"#, "invalid_request", "max_tokens"),
    ("POST", "/v1/chat/completions", r#"{"messages":[],"temperature":1e400}"#, "invalid_request", "temperature"),
    ("POST", "/v1/chat/completions", r#"{"messages":[],"temperature":"hot"}"#, "invalid_request", "temperature"),
    ("POST", "/v1/chat/completions", r#"{"messages":[],"tools":{}}"#, "invalid_request", "tools"),
    ("POST", "/v1/chat/completions", r#"{"messages":[],"tools":[{"type":"web"}]}"#, "invalid_request", "tools[0].type"),
    ("POST", "/v1/responses", r#"{"input":5}"#, "invalid_request", "input"),
    ("POST", "/v1/responses", r#"{"input":[{"type":"bogus"}]}"#, "unsupported_input_type", "input[0].type"),
    ("POST", "/v1/responses", r#"{"input":"hi","instructions":5}"#, "invalid_request", "instructions"),
    ("POST", "/v1/responses", r#"{"input":"hi","store":"yes"}"#, "invalid_request", "store"),
    ("POST", "/v1/responses", r#"{"input":"hi","metadata":[1]}"#, "invalid_request", "metadata"),
    ("POST", "/v1/responses", r#"{"input":"hi","conversation":5}"#, "invalid_request", "conversation"),
    ("POST", "/v1/responses", r#"{"input":"hi","tools":"x"}"#, "invalid_request", "tools"),
    ("POST", "/v1/responses", r#"{"input":"hi","max_output_tokens":1e400}"#, "invalid_request", "max_output_tokens"),
    ("POST", "/v1/responses", r#"{"input":"hi","max_output_tokens":18446744073709551616}"#, "invalid_request", "max_output_tokens"),
    ("POST", "/api/sessions", r#"{"id":5}"#, "invalid_request", "id"),
    ("POST", "/api/sessions", r#"{"title":[]}"#, "invalid_request", "title"),
    ("POST", "/api/sessions", r#"{"title":"a\u0000b"}"#, "invalid_request", "title"),
    ("POST", "/v1/chat/completions", r#"{"messages":[{"role":"user","content":"a\u0000"}]}"#, "invalid_request", "messages[0].content"),
    ("POST", "/v1/responses", r#"{"input":"hi","metadata":{"k\u0000":"v"}}"#, "invalid_request", "metadata.k\u{0}"),
    ("PATCH", "/api/sessions/{id}", r#"{"title":5}"#, "invalid_request", "title"),
    ("PATCH", "/api/sessions/{id}", r#"{"bogus":"x"}"#, "unsupported_session_field", "bogus"),
    ("POST", "/api/sessions/{id}/fork", r#"{"id":5}"#, "invalid_request", "id"),
    ("POST", "/api/sessions/{id}/chat", r#"{"message":5}"#, "invalid_request", "message"),
    ("POST", "/api/sessions/{id}/chat/stream", r#"{"message":{}}"#, "invalid_request", "message"),
    ("POST", "/v1/runs", r#"{"input":5}"#, "invalid_request", "input"),
    ("POST", "/v1/runs", r#"{"input":"hi","session_id":5}"#, "invalid_request", "session_id"),
    ("POST", "/v1/runs", r#"{"input":"hi","conversation_history":{}}"#, "invalid_request", "conversation_history"),
    ("POST", "/v1/runs/{id}/approval", r#"{"choice":5}"#, "invalid_request", "choice"),
    ("POST", "/v1/runs/{id}/approval", r#"{"choice":"once","all":"yes"}"#, "invalid_request", "all"),
    ("POST", "/api/jobs", r#"{"name":5}"#, "invalid_request", "name"),
    ("POST", "/api/jobs", r#"{"name":"n","schedule":"1h","prompt":"p","skills":"x"}"#, "invalid_request", "skills"),
    ("POST", "/api/jobs", r#"{"name":"n","schedule":"1h","prompt":"p","repeat":1e400}"#, "invalid_request", "repeat"),
    ("POST", "/api/jobs", r#"{"name":"n","schedule":"1h","prompt":"p","repeat":18446744073709551616}"#, "invalid_request", "repeat"),
    ("PATCH", "/api/jobs/{id}", r#"{"enabled":"yes"}"#, "invalid_request", "enabled"),
    ("PATCH", "/api/jobs/{id}", r#"{"repeat":"x"}"#, "invalid_request", "repeat"),
    ("PATCH", "/api/jobs/{id}", r#"{"repeat":1e400}"#, "invalid_request", "repeat"),
    ("PATCH", "/api/jobs/{id}", r#"{"bogus":1}"#, "unsupported_job_field", "bogus"),
];

#[tokio::test]
async fn fields_of_the_wrong_type_or_range_name_the_field() {
    let app = TestApp::spawn().await;
    let mut checks = Checks::default();
    for (method, path, body, code, param) in WRONG_FIELDS {
        let target = path.replace("{id}", UNKNOWN);
        let reply = raw(&app, method, target.as_bytes(), &[], body.as_bytes()).await;
        checks.error(
            &format!("{method} {path} {body}"),
            &reply,
            400,
            code,
            Some(Some(param)),
        );
    }
    checks.finish();
    app.stop().await;
}

/// `(method, path, body, status, code, param)`: required fields missing or empty. The session
/// and job paths use ids created first (`{session}`, `{job}`), so the body is what is judged.
type MissingField = (
    &'static str,
    &'static str,
    &'static str,
    u16,
    &'static str,
    Option<&'static str>,
);

#[rustfmt::skip]
const MISSING_FIELDS: &[MissingField] = &[
    ("POST", "/v1/chat/completions", "{}", 400, "invalid_request", Some("messages")),
    ("POST", "/v1/chat/completions", r#"{"messages":[]}"#, 400, "invalid_request", Some("messages")),
    ("POST", "/v1/chat/completions", r#"{"messages":[{"role":"assistant","content":"x"}]}"#, 400, "no_user_message", None),
    ("POST", "/v1/responses", "{}", 400, "invalid_request", Some("input")),
    ("POST", "/v1/runs", "{}", 400, "invalid_request", Some("input")),
    ("POST", "/api/sessions/{session}/chat", "{}", 400, "missing_message", None),
    ("POST", "/api/sessions/{session}/chat/stream", "", 400, "missing_message", None),
    ("POST", "/api/jobs", "{}", 400, "invalid_request", Some("name")),
    ("POST", "/api/jobs", r#"{"name":"n","prompt":"p"}"#, 400, "invalid_schedule", Some("schedule")),
    ("POST", "/api/jobs", r#"{"name":"n","schedule":"1h"}"#, 400, "invalid_request", Some("prompt")),
    ("POST", "/api/jobs", r#"{"name":"n","schedule":"whenever","prompt":"p"}"#, 400, "invalid_schedule", Some("schedule")),
    ("PATCH", "/api/jobs/{job}", r#"{"schedule":"whenever"}"#, 400, "invalid_schedule", Some("schedule")),
    ("PATCH", "/api/sessions/{session}", r#"{"title":"x","id":"y"}"#, 400, "unsupported_session_field", Some("id")),
];

#[tokio::test]
async fn missing_required_fields_are_400_with_the_services_code() {
    let fake = FakeUpstream::start().await;
    let app = TestApp::spawn_with(TestOptions::upstream(&fake.base_url())).await;
    let session = raw(
        &app,
        "POST",
        b"/api/sessions",
        &[],
        br#"{"id":"bad-input-session"}"#,
    )
    .await;
    assert_eq!(session.status, 201, "{:?}", session.json());
    let job = raw(
        &app,
        "POST",
        b"/api/jobs",
        &[],
        br#"{"name":"n","schedule":"2h","prompt":"p"}"#,
    )
    .await;
    assert_eq!(job.status, 201, "{:?}", job.json());
    let job_id = job.json()["job"]["id"].as_str().unwrap().to_owned();
    let mut checks = Checks::default();
    for (method, path, body, status, code, param) in MISSING_FIELDS {
        let target = path
            .replace("{session}", "bad-input-session")
            .replace("{job}", &job_id);
        let reply = raw(&app, method, target.as_bytes(), &[], body.as_bytes()).await;
        checks.error(
            &format!("{method} {path} {body}"),
            &reply,
            *status,
            code,
            param.map(Some),
        );
    }
    checks.finish();
    assert!(
        fake.requests().is_empty(),
        "no bad request may reach the upstream"
    );
    app.stop().await;
}

#[tokio::test]
async fn oversize_bodies_are_413_on_every_route_that_reads_one() {
    let app = TestApp::spawn().await;
    let big = format!(r#"{{"title":"{}"}}"#, "a".repeat(10_000_001));
    let mut checks = Checks::default();
    for route in ROUTES.iter().filter(|route| route.body != Body::None) {
        let url = app.url(&route.target(UNKNOWN));
        let method = reqwest::Method::from_bytes(route.method.as_bytes()).unwrap();
        // Declared length first, then a chunked body of unknown length.
        let declared = app
            .http
            .request(method.clone(), &url)
            .bearer_auth(caduceus_tests::app::TEST_KEY)
            .body(big.clone());
        let chunks = futures::stream::iter(
            big.as_bytes()
                .chunks(1 << 20)
                .map(|chunk| Ok::<_, std::io::Error>(chunk.to_vec()))
                .collect::<Vec<_>>(),
        );
        let streamed = app
            .http
            .request(method, &url)
            .bearer_auth(caduceus_tests::app::TEST_KEY)
            .body(reqwest::Body::wrap_stream(chunks));
        for (how, request) in [("content-length", declared), ("chunked", streamed)] {
            let what = format!("{} ({how})", route.name());
            let response = request.send().await.unwrap();
            let reply = super::Reply {
                status: response.status().as_u16(),
                head: String::new(),
                body: response.bytes().await.unwrap().to_vec(),
            };
            checks.error(&what, &reply, 413, "body_too_large", Some(None));
        }
    }
    checks.finish();
    app.stop().await;
}
