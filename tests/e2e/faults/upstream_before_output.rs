//! Upstream faults before any answer byte — connection refused, DNS failure, persistent 429 and
//! 5xx (retried first), no response headers within the read timeout, a huge non-streamed body,
//! a body that is not valid SSE — each through REST JSON, REST SSE, gRPC unary and gRPC stream:
//! a plain error (502/504, gRPC UNAVAILABLE/DEADLINE_EXCEEDED with the REST code as reason),
//! quickly, with no answer stored as complete. Plus `Retry-After` really being honoured.

use std::time::{Duration, Instant};

use caduceus_tests::fake_upstream::{FakeUpstream, Reply, closed_base_url};

use super::{Expect, MAX_RESPONSE_BYTES, Transport, chat, each_transport, fault_app};

const UNAVAILABLE: Expect = Expect {
    code: "upstream_unavailable",
    http: 502,
    after_output: false,
};

#[tokio::test]
async fn connection_refused_is_502_upstream_unavailable() {
    let app = fault_app(&closed_base_url().await).await;
    each_transport(&app, "refused", UNAVAILABLE, || {}).await;
    let seen = chat(&app, Transport::RestJson, "fault-refused-message").await;
    assert!(
        seen.message
            .as_deref()
            .unwrap()
            .contains("connection refused"),
        "{seen:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn dns_failure_is_502_and_fails_fast() {
    // `.invalid` never resolves (RFC 2606); the connect timeout bounds a slow resolver.
    let app = fault_app("http://caduceus-upstream.invalid/v1").await;
    each_transport(&app, "dns", UNAVAILABLE, || {}).await;
    let seen = chat(&app, Transport::RestJson, "fault-dns-message").await;
    let message = seen.message.unwrap();
    assert!(
        message.contains("DNS") || message.contains("connect"),
        "{message}"
    );
    assert!(
        !message.contains("invalid/v1"),
        "no URL in messages: {message}"
    );
    app.stop().await;
}

#[tokio::test]
async fn persistent_429_is_retried_then_502_upstream_rate_limited() {
    let fake = FakeUpstream::start().await;
    let app = fault_app(&fake.base_url()).await;
    let expect = Expect {
        code: "upstream_rate_limited",
        ..UNAVAILABLE
    };
    each_transport(&app, "429", expect, || {
        for _ in 0..3 {
            fake.push(Reply::http_error_message(429, "slow down").with_retry_after("0"));
        }
    })
    .await;
    assert_eq!(fake.request_count(), 12, "3 attempts per call");
    assert_eq!(fake.pending_replies(), 0);
    app.stop().await;
}

#[tokio::test]
async fn retry_after_is_honoured_before_the_retry() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::http_error_message(429, "slow down").with_retry_after("1"));
    fake.push(Reply::text("after the wait"));
    let app = fault_app(&fake.base_url()).await;
    let started = Instant::now();
    let seen = chat(&app, Transport::RestJson, "fault-retry-after").await;
    assert_eq!(seen.http, Some(200), "{seen:?}");
    assert_eq!(seen.content, "after the wait");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited {:?}, Retry-After said 1 s",
        started.elapsed()
    );
    assert_eq!(fake.request_count(), 2);
    app.stop().await;
}

#[tokio::test]
async fn persistent_5xx_is_retried_then_502() {
    let fake = FakeUpstream::start().await;
    let app = fault_app(&fake.base_url()).await;
    each_transport(&app, "5xx", UNAVAILABLE, || {
        fake.push(Reply::http_error(500, "boom"));
        fake.push(Reply::http_error(502, "<html>bad gateway</html>"));
        fake.push(Reply::http_error(503, "overloaded"));
    })
    .await;
    assert_eq!(fake.request_count(), 12, "3 attempts per call");
    app.stop().await;
}

#[tokio::test]
async fn no_response_headers_is_504_after_the_read_timeout() {
    let fake = FakeUpstream::start().await;
    let app = fault_app(&fake.base_url()).await;
    let expect = Expect {
        code: "upstream_timeout",
        http: 504,
        after_output: false,
    };
    each_transport(&app, "hang", expect, || {
        fake.push(Reply::hang());
    })
    .await;
    assert_eq!(fake.request_count(), 4, "a timeout is not retried");
    app.stop().await;
}

#[tokio::test]
async fn huge_non_streamed_body_is_cut_at_the_size_limit() {
    let fake = FakeUpstream::start().await;
    let app = fault_app(&fake.base_url()).await;
    each_transport(&app, "huge-json", UNAVAILABLE, || {
        fake.push(Reply::huge_json(50 * 1024 * 1024));
    })
    .await;
    // The server stopped reading (and dropped the connection) long before 50 MB.
    assert!(fake.wait_for_disconnects(4, Duration::from_secs(5)).await);
    fake.push(Reply::huge_json(50 * 1024 * 1024));
    let seen = chat(&app, Transport::RestJson, "fault-huge-message").await;
    let message = seen.message.unwrap();
    assert!(
        message.contains(&MAX_RESPONSE_BYTES.to_string()) && message.contains("max_response_bytes"),
        "{message}"
    );
    app.stop().await;
}

#[tokio::test]
async fn body_that_is_not_sse_is_502() {
    let fake = FakeUpstream::start().await;
    let app = fault_app(&fake.base_url()).await;
    each_transport(&app, "not-utf8", UNAVAILABLE, || {
        fake.push(Reply::raw_bytes(b"data: \xff\xfe\xfd\n\n".to_vec()));
    })
    .await;
    each_transport(&app, "no-finish", UNAVAILABLE, || {
        fake.push(Reply::raw_bytes(b"data: [DONE]\n\n".to_vec()));
    })
    .await;
    app.stop().await;
}
