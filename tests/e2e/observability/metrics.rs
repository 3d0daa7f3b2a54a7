//! `GET /metrics`: auth required, listed in `/v1/capabilities`, a valid OpenMetrics exposition
//! whose counters and gauges move with the traffic.

use std::collections::BTreeMap;
use std::time::Duration;

use caduceus_tests::app::TestApp;
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};

use super::support::options;

/// One sample line: metric name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses an OpenMetrics text exposition strictly enough to catch malformed output: comment
/// lines are HELP/TYPE/UNIT, `# EOF` is the last line, every sample belongs to a declared
/// family, label values are quoted, values are numbers.
fn parse(text: &str) -> Vec<Sample> {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "missing final # EOF");
    assert_eq!(text.matches("# EOF").count(), 1, "one # EOF only");
    let mut families: Vec<String> = Vec::new();
    let mut samples = Vec::new();
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().unwrap_or_else(|| panic!("bad comment {line}"));
            assert!(
                ["HELP", "TYPE", "UNIT"].contains(&kind),
                "bad comment {line}"
            );
            if kind == "TYPE" {
                assert!(
                    !families.contains(&name.to_owned()),
                    "family {name} declared twice"
                );
                families.push(name.to_owned());
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let inner = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("bad labels {line}"));
                let labels = inner
                    .split("\",")
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| {
                        let (key, value) = pair
                            .split_once("=\"")
                            .unwrap_or_else(|| panic!("bad label {line}"));
                        (key.to_owned(), value.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
        };
        assert!(
            families
                .iter()
                .any(|family| name.starts_with(family.as_str())),
            "sample {name} outside any declared family"
        );
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}

/// The sum of the samples called `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

async fn scrape(app: &TestApp) -> Vec<Sample> {
    let response = app.get("/metrics").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
    );
    parse(&response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_require_the_key() {
    let app = TestApp::spawn().await;
    let none = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth("wrong-key-0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
    let caps: Value = app
        .get("/v1/capabilities")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        caps["endpoints"]["metrics"],
        json!({"method": "GET", "path": "/metrics"})
    );
    app.stop().await;
}

#[tokio::test]
async fn counters_move_with_the_traffic() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::tool_call("terminal", json!({"command": "echo hi"})).with_usage(11, 3));
    fake.push(Reply::text("done").with_usage(7, 2));
    fake.push(Reply::http_error_message(400, "bad request"));
    let app = TestApp::spawn_with(options(&fake)).await;
    let before = scrape(&app).await;
    assert_eq!(value(&before, "gen_ai_client_token_usage_count", &[]), 0.0);
    assert_eq!(value(&before, "caduceus_active_agents", &[]), 0.0);

    let body = json!({"messages": [{"role": "user", "content": "go"}]});
    let ok = app
        .post("/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let failed = app
        .post("/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 502);

    let after = scrape(&app).await;
    let chat = [("method", "POST"), ("route", "/v1/chat/completions")];
    assert_eq!(
        value(
            &after,
            "http_server_requests_total",
            &[chat[0], chat[1], ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "http_server_requests_total",
            &[chat[0], chat[1], ("status", "502")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "http_server_requests_total",
            &[("route", "/metrics"), ("status", "200")]
        ),
        1.0
    );
    assert!(value(&after, "http_server_request_duration_seconds_count", &chat) >= 2.0);
    let grpc = [
        ("grpc_service", "caduceus.v1.ChatService"),
        ("grpc_method", "CreateChatCompletion"),
    ];
    assert_eq!(
        value(
            &after,
            "grpc_server_handled_total",
            &[grpc[0], grpc[1], ("grpc_code", "OK")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "grpc_server_handled_total",
            &[grpc[0], grpc[1], ("grpc_code", "UNAVAILABLE")]
        ),
        1.0
    );
    assert!(value(&after, "grpc_server_handling_seconds_count", &grpc) >= 2.0);
    let input = [
        ("gen_ai_token_type", "input"),
        ("gen_ai_request_model", "fake-model"),
    ];
    assert_eq!(value(&after, "gen_ai_client_token_usage_sum", &input), 18.0);
    assert_eq!(
        value(
            &after,
            "gen_ai_client_token_usage_sum",
            &[("gen_ai_token_type", "output")]
        ),
        5.0
    );
    assert_eq!(
        value(&after, "gen_ai_client_token_usage_count", &input),
        2.0
    );
    assert_eq!(
        value(
            &after,
            "gen_ai_client_operation_duration_seconds_count",
            &[("gen_ai_operation_name", "chat")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &after,
            "gen_ai_client_operation_duration_seconds_count",
            &[("error_type", "rejected")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "caduceus_upstream_errors_total",
            &[("kind", "rejected"), ("provider", "custom")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "caduceus_tool_calls_total",
            &[("tool", "terminal"), ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        value(&after, "caduceus_gateway_overhead_seconds_count", &grpc),
        2.0
    );
    assert!(value(&after, "caduceus_gateway_overhead_seconds_sum", &grpc) > 0.0);
    assert_eq!(value(&after, "caduceus_build_info", &[]), 1.0);
    app.stop().await;
}

#[tokio::test]
async fn live_gauges_follow_an_open_stream() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::slow_chunks(
        vec!["a", "b", "c", "d"],
        Duration::from_millis(400),
    ));
    let app = TestApp::spawn_with(options(&fake)).await;
    let body = json!({"stream": true, "messages": [{"role": "user", "content": "go"}]});
    let mut response = app
        .post("/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap();
    assert!(first.is_some());
    let during = scrape(&app).await;
    assert_eq!(value(&during, "caduceus_sse_streams_open", &[]), 1.0);
    assert_eq!(value(&during, "caduceus_active_agents", &[]), 1.0);
    while response.chunk().await.unwrap().is_some() {}
    let mut after = scrape(&app).await;
    for _ in 0..50 {
        if value(&after, "caduceus_sse_streams_open", &[]) == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = scrape(&app).await;
    }
    assert_eq!(value(&after, "caduceus_sse_streams_open", &[]), 0.0);
    assert_eq!(value(&after, "caduceus_active_agents", &[]), 0.0);
    let stream = [("grpc_method", "StreamChatCompletion"), ("grpc_code", "OK")];
    assert_eq!(value(&after, "grpc_server_handled_total", &stream), 1.0);
    app.stop().await;
}
