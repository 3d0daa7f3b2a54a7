//! Upstream faults after the answer began streaming — a stall, a malformed JSON chunk, an error
//! object in the stream, a connection reset, an endless stream — each through REST JSON, REST
//! SSE, gRPC unary and gRPC stream — and a steady stream outlasting `model.max_response_seconds`: the partial text, then `finish_reason: "error"` (streams: one
//! error chunk / error event with the code, then `[DONE]`), bounded in time and size, the
//! partial answer stored marked `error`; the session stays usable.

use std::time::Duration;

use caduceus_tests::app::{TestApp, TestOptions};
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};

use super::{
    Expect, Transport, chat, complete_answers, each_transport, fault_app, fault_yaml, messages,
};

const BROKEN: Expect = Expect {
    code: "upstream_unavailable",
    http: 502,
    after_output: true,
};

#[tokio::test]
async fn stall_mid_stream_ends_with_upstream_timeout() {
    let fake = FakeUpstream::start().await;
    let app = fault_app(&fake.base_url()).await;
    let expect = Expect {
        code: "upstream_timeout",
        http: 504,
        after_output: true,
    };
    each_transport(&app, "stall", expect, || {
        fake.push(Reply::stall_after(vec!["partial ", "answer"]));
    })
    .await;
    // The stalled upstream requests were abandoned, not left open.
    assert!(fake.wait_for_disconnects(4, Duration::from_secs(5)).await);
    app.stop().await;
}

#[tokio::test]
async fn malformed_chunk_and_stream_error_end_the_turn_cleanly() {
    let fake = FakeUpstream::start().await;
    let app = fault_app(&fake.base_url()).await;
    each_transport(&app, "malformed", BROKEN, || {
        fake.push(Reply::malformed());
    })
    .await;
    each_transport(&app, "stream-error", BROKEN, || {
        fake.push(Reply::stream_error("the model crashed"));
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn reset_mid_stream_then_the_session_is_usable() {
    let fake = FakeUpstream::start().await;
    let app = fault_app(&fake.base_url()).await;
    each_transport(&app, "reset", BROKEN, || {
        fake.push(Reply::reset_after(vec!["half ", "an answer"]));
    })
    .await;
    // The next turn of a session that saw the fault works and is stored complete.
    fake.push(Reply::text("all good now"));
    let session = "fault-reset-rest-json";
    let seen = chat(&app, Transport::RestJson, session).await;
    assert_eq!(seen.http, Some(200), "{seen:?}");
    assert_eq!(seen.content, "all good now");
    let stored = messages(&app, session).await;
    let roles: Vec<&str> = stored.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        ["user", "assistant", "user", "assistant"],
        "{stored:?}"
    );
    let complete = complete_answers(&stored);
    assert_eq!(complete.len(), 1);
    assert_eq!(complete[0]["content"], "all good now");
    app.stop().await;
}

#[tokio::test]
async fn endless_stream_is_cut_at_the_size_limit() {
    let fake = FakeUpstream::start().await;
    let app = fault_app(&fake.base_url()).await;
    each_transport(&app, "endless", BROKEN, || {
        fake.push(Reply::endless("more and more text "));
    })
    .await;
    assert!(fake.wait_for_disconnects(4, Duration::from_secs(5)).await);
    fake.push(Reply::endless("more and more text "));
    let seen = chat(&app, Transport::RestStream, "fault-endless-message").await;
    assert!(
        seen.message.unwrap().contains("max_response_bytes"),
        "the error names the knob"
    );
    app.stop().await;
}

#[tokio::test]
async fn steady_stream_past_the_total_time_limit_ends_with_upstream_timeout() {
    let fake = FakeUpstream::start().await;
    // Every gap (150 ms) is well inside the read timeout; the whole answer is not.
    let yaml =
        fault_yaml(&fake.base_url()).replace("max_response_seconds: 5", "max_response_seconds: 1");
    let app = TestApp::spawn_with(TestOptions {
        config_yaml: Some(yaml),
        ..TestOptions::default()
    })
    .await;
    let expect = Expect {
        code: "upstream_timeout",
        http: 504,
        after_output: true,
    };
    each_transport(&app, "too-long", expect, || {
        let words: Vec<String> = (0..40).map(|i| format!("w{i} ")).collect();
        fake.push(Reply::slow_chunks(words, Duration::from_millis(150)));
    })
    .await;
    app.stop().await;
}
