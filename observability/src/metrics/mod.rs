//! Prometheus metric families (OpenMetrics text via `prometheus-client`), in two registries
//! because they live in two places: [`HttpMetrics`] in the REST facade (HTTP requests, open SSE
//! streams) and [`CoreMetrics`] in the core (gRPC requests, GenAI client metrics, upstream
//! errors, live agents and runs, gateway overhead). `GET /metrics` serves both: the facade's
//! families, then the core's (fetched with `DiscoveryService/GetMetrics`), then one `# EOF`.
//!
//! Registries are per instance, not global, so several servers in one test process keep their
//! own counts. Label values are bounded by construction: routes are templates, gRPC methods are
//! the served ones, models come from configuration, tool names from the registry.

mod core;
mod http;

pub use self::core::{CoreMetrics, GenAiCall};
pub use self::http::{HttpMetrics, SseStreamGuard};

/// `Content-Type` of the exposition served at `/metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The OpenMetrics end marker; exactly one, at the very end of an exposition.
pub const EOF_LINE: &str = "# EOF\n";

/// Request latency buckets (seconds): the HTTP semantic-convention buckets, extended for agent
/// turns that run for minutes.
pub(crate) const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

/// `text` without its trailing `# EOF` line, so expositions can be concatenated.
pub fn strip_eof(text: &str) -> &str {
    text.strip_suffix(EOF_LINE).unwrap_or(text)
}

/// Joins partial expositions (each may or may not end with `# EOF`) into one complete one.
pub fn join_expositions<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for part in parts {
        let part = strip_eof(part);
        out.push_str(part);
        if !part.is_empty() && !part.ends_with('\n') {
            out.push('\n');
        }
    }
    out.push_str(EOF_LINE);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joining_keeps_one_eof_at_the_end() {
        let joined = join_expositions(["# TYPE a counter\na_total 1\n# EOF\n", "b 2", ""]);
        assert_eq!(joined, "# TYPE a counter\na_total 1\nb 2\n# EOF\n");
        assert_eq!(joined.matches("# EOF").count(), 1);
    }

    /// Every series the Grafana dashboard queries exists in the expositions.
    #[test]
    fn the_dashboard_only_uses_exported_series() {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../dashboards/caduceus.json")).unwrap();
        let http = HttpMetrics::new();
        http.record_request("GET", "/x", 200, 0.1);
        let core = CoreMetrics::new();
        core.record_grpc("s", "m", "OK", 0.1);
        let call = GenAiCall {
            operation: "chat",
            provider: "p",
            request_model: "m",
            response_model: "m",
        };
        core.record_gen_ai_call(call, 0.1, Some((1, 1)), None);
        core.record_upstream_error("p", "timeout");
        core.record_tool_call("terminal", true);
        core.record_overhead("s", "m", 0.1);
        let exposition = join_expositions([http.encode().as_str(), core.encode().as_str()]);
        let mut exprs = Vec::new();
        collect_exprs(&dashboard, &mut exprs);
        assert!(exprs.len() > 10);
        for expr in exprs {
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                let ours = [
                    "http_server_",
                    "grpc_server_",
                    "gen_ai_client_",
                    "caduceus_",
                    "process_",
                ]
                .iter()
                .any(|prefix| word.starts_with(prefix));
                if ours {
                    assert!(
                        exposition.lines().any(|line| line.starts_with(word)),
                        "the dashboard queries {word}, which is not exported"
                    );
                }
            }
        }
    }

    fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("expr", serde_json::Value::String(expr)) => out.push(expr.clone()),
                        _ => collect_exprs(value, out),
                    }
                }
            }
            serde_json::Value::Array(items) => {
                items.iter().for_each(|item| collect_exprs(item, out))
            }
            _ => {}
        }
    }
}
