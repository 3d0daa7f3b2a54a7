//! The bad-input matrix (issue #7): every REST route and every RPC fed malformed input must
//! answer a clear 4xx with the exact code (and `param` where the contract names one) in the full
//! envelope — never a 5xx, a panic or a hang. Tables live in `bodies.rs` (JSON bodies),
//! `headers_ids.rs` (headers, path ids, query numbers) and `grpc.rs` (the gRPC API); this file
//! holds the route table, a raw HTTP/1.1 client (reqwest normalizes `..` and refuses odd bytes,
//! which are exactly what these tests must send) and the envelope assertions.

mod bodies;
mod grpc;
mod headers_ids;
mod regressions;

use std::time::Duration;

use caduceus_tests::app::{TEST_KEY, TestApp};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a route does with a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Ignored.
    None,
    /// A JSON object is required.
    Required,
    /// Empty means "no fields"; anything else must be a JSON object.
    Optional,
}

/// One REST route: method, path template (`{id}`), body use, and the `*_not_found` code of the
/// object its `{id}` names.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub body: Body,
    pub not_found: &'static str,
}

const fn route(
    method: &'static str,
    path: &'static str,
    body: Body,
    not_found: &'static str,
) -> Route {
    Route {
        method,
        path,
        body,
        not_found,
    }
}

/// Every route of API.md (plus `/metrics` and `/openapi.json`).
pub const ROUTES: &[Route] = &[
    route("GET", "/health", Body::None, ""),
    route("GET", "/v1/health", Body::None, ""),
    route("GET", "/health/detailed", Body::None, ""),
    route("GET", "/v1/models", Body::None, ""),
    route("GET", "/v1/capabilities", Body::None, ""),
    route("GET", "/v1/skills", Body::None, ""),
    route("GET", "/v1/toolsets", Body::None, ""),
    route("GET", "/metrics", Body::None, ""),
    route("GET", "/openapi.json", Body::None, ""),
    route("POST", "/v1/chat/completions", Body::Required, ""),
    route("POST", "/v1/responses", Body::Required, ""),
    route(
        "GET",
        "/v1/responses/{id}",
        Body::None,
        "response_not_found",
    ),
    route(
        "DELETE",
        "/v1/responses/{id}",
        Body::None,
        "response_not_found",
    ),
    route(
        "POST",
        "/v1/responses/{id}/cancel",
        Body::None,
        "response_not_found",
    ),
    route(
        "GET",
        "/v1/responses/{id}/input_items",
        Body::None,
        "response_not_found",
    ),
    route("GET", "/api/sessions", Body::None, ""),
    route("POST", "/api/sessions", Body::Optional, ""),
    route("GET", "/api/sessions/{id}", Body::None, "session_not_found"),
    route(
        "PATCH",
        "/api/sessions/{id}",
        Body::Required,
        "session_not_found",
    ),
    route(
        "DELETE",
        "/api/sessions/{id}",
        Body::None,
        "session_not_found",
    ),
    route(
        "GET",
        "/api/sessions/{id}/messages",
        Body::None,
        "session_not_found",
    ),
    route(
        "POST",
        "/api/sessions/{id}/fork",
        Body::Optional,
        "session_not_found",
    ),
    route(
        "POST",
        "/api/sessions/{id}/chat",
        Body::Optional,
        "session_not_found",
    ),
    route(
        "POST",
        "/api/sessions/{id}/chat/stream",
        Body::Optional,
        "session_not_found",
    ),
    route("POST", "/v1/runs", Body::Required, ""),
    route("GET", "/v1/runs/{id}", Body::None, "run_not_found"),
    route("GET", "/v1/runs/{id}/events", Body::None, "run_not_found"),
    route(
        "POST",
        "/v1/runs/{id}/approval",
        Body::Optional,
        "run_not_found",
    ),
    route("POST", "/v1/runs/{id}/stop", Body::None, "run_not_found"),
    route("GET", "/api/jobs", Body::None, ""),
    route("POST", "/api/jobs", Body::Required, ""),
    route("GET", "/api/jobs/{id}", Body::None, "job_not_found"),
    route("PATCH", "/api/jobs/{id}", Body::Required, "job_not_found"),
    route("DELETE", "/api/jobs/{id}", Body::None, "job_not_found"),
    route("POST", "/api/jobs/{id}/pause", Body::None, "job_not_found"),
    route("POST", "/api/jobs/{id}/resume", Body::None, "job_not_found"),
    route("POST", "/api/jobs/{id}/run", Body::None, "job_not_found"),
];

impl Route {
    /// The path with `{id}` replaced by `id` (already URL-encoded as the caller wants it sent).
    pub fn target(&self, id: &str) -> String {
        self.path.replace("{id}", id)
    }

    /// Whether the path names an object.
    pub fn has_id(&self) -> bool {
        self.path.contains("{id}")
    }

    /// `METHOD path` for messages.
    pub fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// One raw HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    #[allow(dead_code)]
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (Null if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Sends one HTTP/1.1 request byte for byte (bearer key added unless `headers` has one) and
/// reads the whole answer (`Connection: close`). Bounded: a hang fails the test.
pub async fn raw(
    app: &TestApp,
    method: &str,
    target: &[u8],
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Reply {
    let mut request = Vec::with_capacity(body.len() + 512);
    request.extend_from_slice(method.as_bytes());
    request.push(b' ');
    request.extend_from_slice(target);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
    {
        request.extend_from_slice(format!("Authorization: Bearer {TEST_KEY}\r\n").as_bytes());
    }
    for (name, value) in headers {
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() {
        request.extend_from_slice(b"Content-Type: application/json\r\n");
    }
    request.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    request.extend_from_slice(body);
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        // The server may answer (and close) before reading a rejected body: ignore write errors.
        let _ = stream.write_all(&request).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        answer
    };
    let answer = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {} hung", String::from_utf8_lossy(target)));
    parse(&answer)
}

/// Splits a raw answer into status, head and (de-chunked) body.
fn parse(answer: &[u8]) -> Reply {
    let split = answer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(answer)));
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    let mut body = answer[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Reply { status, head, body }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// Collects every mismatch of a table (so one run shows them all) and every server error.
#[derive(Debug, Default)]
pub struct Checks {
    failures: Vec<String>,
    server_errors: Vec<String>,
}

impl Checks {
    /// Checks the exact status, the full four-key envelope, its `type`, its `code` and — when
    /// given — `param` (`Some(None)` = must be null). `what` names the case.
    pub fn error(
        &mut self,
        what: &str,
        reply: &Reply,
        status: u16,
        code: &str,
        param: Option<Option<&str>>,
    ) {
        if let Err(failure) = check_error(reply, status, code, param) {
            self.failures.push(format!("{what}: {failure}"));
        }
        self.status(what, reply.status);
    }

    /// Records a status for the global "no 5xx" rule.
    pub fn status(&mut self, what: &str, status: u16) {
        if status >= 500 {
            self.server_errors.push(format!("{what}: {status}"));
        }
    }

    /// Records a free-form failure.
    pub fn fail(&mut self, failure: String) {
        self.failures.push(failure);
    }

    /// Fails the test with every mismatch, server errors first.
    pub fn finish(self) {
        assert!(
            self.server_errors.is_empty(),
            "server errors:\n{}",
            self.server_errors.join("\n")
        );
        assert!(
            self.failures.is_empty(),
            "{} mismatches:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

fn check_error(
    reply: &Reply,
    status: u16,
    code: &str,
    param: Option<Option<&str>>,
) -> Result<(), String> {
    let body = reply.json();
    let short = || {
        let text = body.to_string();
        text.chars().take(300).collect::<String>()
    };
    if reply.status != status {
        return Err(format!(
            "status {} (want {status}); body {}",
            reply.status,
            short()
        ));
    }
    let Some(error) = body["error"].as_object() else {
        return Err(format!(
            "no error envelope: {:?}",
            String::from_utf8_lossy(&reply.body)
        ));
    };
    for key in ["message", "type", "param", "code"] {
        if !error.contains_key(key) {
            return Err(format!("envelope lacks {key}: {}", short()));
        }
    }
    if error["message"].as_str().is_none_or(str::is_empty) {
        return Err("empty message".into());
    }
    let kind = if status == 429 {
        "rate_limit_error"
    } else if status >= 500 {
        "server_error"
    } else {
        "invalid_request_error"
    };
    if error["type"] != kind {
        return Err(format!("type {} (want {kind})", error["type"]));
    }
    if error["code"] != code {
        return Err(format!(
            "code {} (want {code}); body {}",
            error["code"],
            short()
        ));
    }
    if let Some(param) = param {
        let want = param.map_or(Value::Null, Value::from);
        if error["param"] != want {
            return Err(format!(
                "param {} (want {want}); body {}",
                error["param"],
                short()
            ));
        }
    }
    Ok(())
}
