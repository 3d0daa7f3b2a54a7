//! Headers, path ids and query values: oversize / non-ASCII / `..` session headers and
//! idempotency keys, CR-LF-NUL bytes in headers, hostile path ids (`..`, `%2e%2e`, NUL, 10 KB,
//! non-ASCII, invalid UTF-8), unknown ids (404 with the family's code) and out-of-range numbers in
//! query strings.

use caduceus_tests::app::{TestApp, TestOptions};
use caduceus_tests::fake_upstream::FakeUpstream;

use super::{Body, Checks, ROUTES, raw};

/// Agent routes with a body that is valid, so only the header is at fault.
const AGENT_ROUTES: &[(&str, &str)] = &[
    (
        "/v1/chat/completions",
        r#"{"messages":[{"role":"user","content":"hi"}]}"#,
    ),
    ("/v1/responses", r#"{"input":"hi"}"#),
    ("/v1/runs", r#"{"input":"hi"}"#),
    (
        "/api/sessions/bad-input-session/chat",
        r#"{"message":"hi"}"#,
    ),
    (
        "/api/sessions/bad-input-session/chat/stream",
        r#"{"message":"hi"}"#,
    ),
];

/// `(header, value, code)`: values the service must refuse with that code.
fn bad_headers() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let long = "a".repeat(257).into_bytes();
    vec![
        ("X-Hermes-Session-Id", long.clone(), "invalid_session_id"),
        (
            "X-Hermes-Session-Id",
            "a".repeat(10_000).into_bytes(),
            "invalid_session_id",
        ),
        (
            "X-Hermes-Session-Id",
            b"../etc".to_vec(),
            "invalid_session_id",
        ),
        ("X-Hermes-Session-Id", b"a/b".to_vec(), "invalid_session_id"),
        (
            "X-Hermes-Session-Id",
            b"a\\b".to_vec(),
            "invalid_session_id",
        ),
        (
            "X-Hermes-Session-Id",
            "caf\u{e9}".as_bytes().to_vec(),
            "invalid_session_id",
        ),
        ("X-Hermes-Session-Key", long.clone(), "invalid_session_key"),
        (
            "X-Hermes-Session-Key",
            "cl\u{e9}".as_bytes().to_vec(),
            "invalid_session_key",
        ),
    ]
}

#[tokio::test]
async fn bad_session_headers_and_idempotency_keys_are_400_before_any_work() {
    let fake = FakeUpstream::start().await;
    let app = TestApp::spawn_with(TestOptions::upstream(&fake.base_url())).await;
    let created = raw(
        &app,
        "POST",
        b"/api/sessions",
        &[],
        br#"{"id":"bad-input-session"}"#,
    )
    .await;
    assert_eq!(created.status, 201);
    let mut checks = Checks::default();
    for (path, body) in AGENT_ROUTES {
        for (header, value, code) in bad_headers() {
            let what = format!(
                "POST {path} with {header} {:?}",
                String::from_utf8_lossy(&value[..value.len().min(20)])
            );
            let reply = raw(
                &app,
                "POST",
                path.as_bytes(),
                &[(header, &value)],
                body.as_bytes(),
            )
            .await;
            checks.error(&what, &reply, 400, code, None);
        }
    }
    for path in ["/v1/chat/completions", "/v1/responses", "/v1/runs"] {
        let body = AGENT_ROUTES
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, b)| *b)
            .unwrap();
        for key in [
            "k".repeat(256).into_bytes(),
            "caf\u{e9}".as_bytes().to_vec(),
            b"a b".to_vec(),
        ] {
            let what = format!(
                "POST {path} with Idempotency-Key {:?}",
                String::from_utf8_lossy(&key[..key.len().min(20)])
            );
            let reply = raw(
                &app,
                "POST",
                path.as_bytes(),
                &[("Idempotency-Key", &key)],
                body.as_bytes(),
            )
            .await;
            checks.error(&what, &reply, 400, "invalid_idempotency_key", None);
        }
    }
    checks.finish();
    assert_eq!(
        fake.request_count(),
        0,
        "a refused request must not reach the upstream"
    );
    app.stop().await;
}

/// CR, LF and NUL cannot travel inside an HTTP/1.1 header value: the HTTP parser refuses the
/// request (400) before it reaches any route, or the bytes end the header line and the rest is a
/// malformed header. Either way: a 400, never a 5xx, never a hang.
#[tokio::test]
async fn cr_lf_nul_in_headers_never_reach_a_route() {
    let app = TestApp::spawn().await;
    let mut checks = Checks::default();
    for header in [
        "X-Hermes-Session-Id",
        "X-Hermes-Session-Key",
        "Idempotency-Key",
    ] {
        for value in [&b"a\rb"[..], b"a\nb", b"a\0b", b"a\r\nX-Injected: 1"] {
            let what = format!("{header} {value:?}");
            let reply = raw(
                &app,
                "POST",
                b"/v1/chat/completions",
                &[(header, value)],
                b"{}",
            )
            .await;
            checks.status(&what, reply.status);
            if reply.status != 400 {
                checks.fail(format!("{what}: status {} (want 400)", reply.status));
            }
        }
    }
    checks.finish();
    app.stop().await;
}

/// Hostile ids as sent on the wire, and whether they break the session-id rule (1–256
/// characters; no CR, LF, NUL, `..`, `/`, `\`). Sessions are the one family whose ids clients
/// choose: an id breaking that rule is 400 `invalid_session_id` on every session route. Every
/// other id (and a session id that is merely unknown) is 404 `<family>_not_found`.
fn hostile_ids() -> Vec<(&'static str, String, bool)> {
    vec![
        ("dot-dot", "..".to_owned(), true),
        ("encoded dot-dot", "%2e%2e".to_owned(), true),
        (
            "encoded traversal",
            "..%2F..%2Fetc%2Fpasswd".to_owned(),
            true,
        ),
        ("NUL", "a%00b".to_owned(), true),
        ("CR LF", "a%0D%0Ab".to_owned(), true),
        ("control", "a%01%1fb".to_owned(), false),
        ("10 KB", "x".repeat(10_240), true),
        ("non-ASCII", "caf%C3%A9-%E2%9C%93".to_owned(), false),
        ("unknown", "bad-input-unknown-id".to_owned(), false),
    ]
}

#[tokio::test]
async fn hostile_and_unknown_path_ids_are_404_with_the_familys_code() {
    let fake = FakeUpstream::start().await;
    let app = TestApp::spawn_with(TestOptions::upstream(&fake.base_url())).await;
    let mut checks = Checks::default();
    let valid_body = |route: &super::Route| -> &'static [u8] {
        match (route.method, route.path) {
            ("PATCH", "/api/sessions/{id}") => br#"{"title":"t"}"#,
            ("PATCH", "/api/jobs/{id}") => br#"{"name":"n"}"#,
            (_, "/api/sessions/{id}/chat" | "/api/sessions/{id}/chat/stream") => {
                br#"{"message":"hi"}"#
            }
            (_, "/v1/runs/{id}/approval") => br#"{"choice":"once"}"#,
            _ if route.body == Body::None => b"",
            _ => b"{}",
        }
    };
    for route in ROUTES.iter().filter(|route| route.has_id()) {
        for (label, id, breaks_session_rule) in hostile_ids() {
            let what = format!("{} with {label} id", route.name());
            let reply = raw(
                &app,
                route.method,
                route.target(&id).as_bytes(),
                &[],
                valid_body(route),
            )
            .await;
            if breaks_session_rule && route.not_found == "session_not_found" {
                checks.error(&what, &reply, 400, "invalid_session_id", None);
            } else if route.path.starts_with("/api/sessions/{id}/chat") {
                // Session chat creates a session it does not know yet (like X-Hermes-Session-Id).
                checks.status(&what, reply.status);
                if reply.status != 200 {
                    checks.fail(format!("{what}: status {} (want 200)", reply.status));
                }
            } else {
                checks.error(&what, &reply, 404, route.not_found, None);
            }
        }
        // Not UTF-8 once decoded: the path cannot name anything.
        let what = format!("{} with a non-UTF-8 id", route.name());
        let reply = raw(
            &app,
            route.method,
            route.target("%FF%FE").as_bytes(),
            &[],
            valid_body(route),
        )
        .await;
        checks.error(&what, &reply, 400, "invalid_request", None);
    }
    checks.finish();
    // Only the three session chats per route that create a session reach the upstream.
    assert_eq!(
        fake.request_count(),
        6,
        "no refused request may reach the upstream"
    );
    app.stop().await;
}

/// `(path, param)`: query values that are not numbers or do not fit.
const BAD_QUERIES: &[(&str, &str)] = &[
    ("/api/sessions?limit=abc", "limit"),
    ("/api/sessions?limit=18446744073709551616", "limit"),
    ("/api/sessions?limit=1e400", "limit"),
    ("/api/sessions?offset=-18446744073709551617", "offset"),
    ("/api/sessions?include_children=maybe", "include_children"),
    (
        "/api/sessions/bad-input-session/messages?limit=18446744073709551616",
        "limit",
    ),
    (
        "/api/sessions/bad-input-session/messages?after_id=1.5",
        "after_id",
    ),
    (
        "/v1/responses/resp_x?stream=true&starting_after=1e400",
        "starting_after",
    ),
    ("/v1/responses/resp_x?stream=perhaps", "stream"),
    ("/v1/runs/run_x/events?after=18446744073709551616", "after"),
    ("/api/jobs?include_disabled=maybe", "include_disabled"),
];

#[tokio::test]
async fn out_of_range_query_numbers_name_the_parameter() {
    let app = TestApp::spawn().await;
    let created = raw(
        &app,
        "POST",
        b"/api/sessions",
        &[],
        br#"{"id":"bad-input-session"}"#,
    )
    .await;
    assert_eq!(created.status, 201);
    let mut checks = Checks::default();
    for (path, param) in BAD_QUERIES {
        let reply = raw(&app, "GET", path.as_bytes(), &[], b"").await;
        checks.error(path, &reply, 400, "invalid_request", Some(Some(param)));
    }
    // In range but outside what the service serves: clamped or refused, never a 5xx.
    for path in [
        "/api/sessions?limit=0",
        "/api/sessions?limit=100000",
        "/api/sessions?offset=-1",
        "/api/sessions?limit=-5",
    ] {
        let reply = raw(&app, "GET", path.as_bytes(), &[], b"").await;
        checks.status(path, reply.status);
        if !(reply.status == 200 || reply.status == 400) {
            checks.fail(format!("{path}: status {}", reply.status));
        }
    }
    checks.finish();
    app.stop().await;
}
