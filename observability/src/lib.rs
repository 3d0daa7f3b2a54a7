//! Observability shared by the Caduceus crates: the process-wide subscriber ([`init`]), the
//! OpenTelemetry pipeline (`otel.rs`), W3C trace-context propagation ([`propagation`]), the
//! Prometheus metric families ([`metrics`]) and the GenAI content-capture switch ([`content`]).
//!
//! Libraries only emit `tracing` spans and events and record into the metric handles they are
//! given; the binary calls [`init`] once and holds the returned [`TelemetryGuard`] until it exits
//! (dropping it flushes the span exporter). Tests build their own subscriber from
//! [`otel_layer`] and [`tracer_provider_with_exporter`] instead of calling [`init`].
//!
//! Environment: `RUST_LOG` filters the log lines (default `info`); `LOG_FORMAT=json` switches to
//! one JSON object per line; logs go to stderr so stdout stays free for command output.
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) turns on OTLP/gRPC
//! export, honouring the standard `OTEL_*` variables (service name, resource attributes,
//! sampler, batch settings, headers, timeout). Span export does not depend on `RUST_LOG`: the
//! OpenTelemetry layer has its own filter that always keeps the Caduceus spans.

pub mod content;
pub mod metrics;
mod otel;
pub mod propagation;

pub use otel::{DEFAULT_SERVICE_NAME, otel_layer, resource, tracer_provider_with_exporter};

use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Why the subscriber could not be installed.
#[derive(Debug)]
pub struct InitError(String);

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot initialise logging: {}", self.0)
    }
}

impl std::error::Error for InitError {}

/// What [`init`] reads from the environment, parsed once (testable without touching the
/// process environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `RUST_LOG`, when set.
    pub log_filter: Option<String>,
    /// `LOG_FORMAT=json`.
    pub json: bool,
    /// The OTLP endpoint that enables export (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` wins over
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`); `None` = spans are created (so trace context propagates)
    /// but not exported.
    pub otlp_endpoint: Option<String>,
    /// Whether message contents may be put on spans (see [`content`]).
    pub capture_content: bool,
    /// The requested OTLP protocol when it is not `grpc` (only OTLP/gRPC is built in; the
    /// exporter uses gRPC anyway and [`init`] warns).
    pub unsupported_protocol: Option<String>,
}

impl Settings {
    /// From the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// From any variable lookup. `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn
    /// export off even with an endpoint.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |key: &str| lookup(key).filter(|value| !value.trim().is_empty());
        let is = |key: &str, expected: &str| {
            non_empty(key).is_some_and(|value| value.trim().eq_ignore_ascii_case(expected))
        };
        let disabled = is("OTEL_SDK_DISABLED", "true") || is("OTEL_TRACES_EXPORTER", "none");
        let otlp_endpoint = non_empty("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| non_empty("OTEL_EXPORTER_OTLP_ENDPOINT"))
            .filter(|_| !disabled);
        let unsupported_protocol = non_empty("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| non_empty("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .filter(|protocol| !protocol.trim().eq_ignore_ascii_case("grpc"));
        Self {
            log_filter: non_empty("RUST_LOG"),
            json: is("LOG_FORMAT", "json"),
            otlp_endpoint,
            capture_content: content::enabled_by(&lookup),
            unsupported_protocol,
        }
    }
}

/// Keeps the tracer provider alive; [`TelemetryGuard::shutdown`] (or dropping it) flushes the
/// buffered spans and shuts the exporter down, so the binary holds it until `main` ends.
///
/// The flush blocks until the exporter is done, and the OTLP exporter needs the Tokio runtime to
/// make progress meanwhile: call `shutdown` off the async threads
/// (`tokio::task::spawn_blocking(move || guard.shutdown())`), not inside a runtime's `block_on`.
#[must_use = "dropping the guard shuts the span exporter down"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl TelemetryGuard {
    /// Flushes buffered spans and shuts the exporter down (bounded by the SDK's timeouts).
    pub fn shutdown(self) {
        drop(self);
    }
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard").finish_non_exhaustive()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // Flushes the batch processor (bounded by its export timeout); errors have been logged
        // by the SDK already and there is nobody left to tell.
        let _ = self.provider.shutdown();
    }
}

/// Installs the global subscriber from the environment: the log layer (text or JSON on stderr,
/// filtered by `RUST_LOG`) and the OpenTelemetry layer (own filter; OTLP/gRPC export when an
/// endpoint is configured). Must be called inside a Tokio runtime when export is on (the tonic
/// exporter needs one). An exporter that cannot be built is logged and export stays off; the
/// only error is a subscriber already installed.
pub fn init() -> Result<TelemetryGuard, InitError> {
    let settings = Settings::from_env();
    content::set_enabled(settings.capture_content);
    let (provider, export_error) = match &settings.otlp_endpoint {
        Some(_) => otel::provider_from_env(true),
        None => (unexported_provider(), None),
    };

    let filter_text = settings.log_filter.clone().unwrap_or_else(|| "info".into());
    let (filter, bad_filter) = match EnvFilter::try_new(&filter_text) {
        Ok(filter) => (filter, None),
        Err(error) => (EnvFilter::new("info"), Some(error.to_string())),
    };
    let logs: Box<dyn Layer<Registry> + Send + Sync> = if settings.json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    };
    tracing_subscriber::registry()
        .with(logs)
        .with(otel_layer(&provider))
        .try_init()
        .map_err(|error| InitError(error.to_string()))?;

    if let Some(error) = bad_filter {
        tracing::warn!(%error, "RUST_LOG is not a valid filter; using `info`");
    }
    match (&settings.otlp_endpoint, export_error) {
        (Some(_), Some(error)) => {
            tracing::warn!(%error, "cannot build the OTLP span exporter; traces are not exported");
        }
        (Some(endpoint), None) => {
            tracing::info!(endpoint = %endpoint, "exporting traces over OTLP/gRPC");
        }
        (None, _) => {}
    }
    if let (Some(_), Some(protocol)) = (&settings.otlp_endpoint, &settings.unsupported_protocol) {
        tracing::warn!(
            %protocol,
            "only OTLP over gRPC is built in; exporting with protocol grpc (point the endpoint at the collector's gRPC port, usually 4317)"
        );
    }
    if settings.capture_content {
        tracing::warn!(
            "GenAI content capture is on: prompts, answers and tool arguments are recorded on spans"
        );
    }
    Ok(TelemetryGuard { provider })
}

/// The provider when nothing is exported: spans still get trace and span ids, so trace context
/// flows from an incoming `traceparent` (or a new trace) to the upstream call, but a span whose
/// parent is not sampled is dropped at once instead of recorded for no exporter. A sampled
/// incoming parent keeps its spans sampled, so the upstream sees the caller's sampling decision.
fn unexported_provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_resource(otel::resource())
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|key| map.get(key).cloned())
    }

    #[test]
    fn without_export_trace_context_still_reaches_outgoing_calls() {
        let provider = unexported_provider();
        let subscriber = tracing_subscriber::registry().with(otel_layer(&provider));
        tracing::subscriber::with_default(subscriber, || {
            let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
            let mut headers = http::HeaderMap::new();
            let incoming = format!("00-{trace}-00f067aa0ba902b7-01");
            headers.insert("traceparent", incoming.parse().unwrap());
            let span = tracing::info_span!(target: "caduceus_service", "request");
            assert!(propagation::set_parent_from(&span, &headers));
            let outgoing = span.in_scope(propagation::current_headers);
            let traceparent = &outgoing[0].1;
            assert!(
                traceparent.starts_with(&format!("00-{trace}-")),
                "{traceparent}"
            );
            assert!(traceparent.ends_with("-01"), "{traceparent}");
            assert!(!traceparent.contains("00f067aa0ba902b7"), "{traceparent}");

            // No incoming context: a new trace, not sampled since nothing records it.
            let root = tracing::info_span!(target: "caduceus_service", "request");
            let outgoing = root.in_scope(propagation::current_headers);
            assert_eq!(outgoing[0].0, "traceparent");
            assert!(outgoing[0].1.ends_with("-00"), "{outgoing:?}");
            assert!(!outgoing[0].1.contains(trace), "{outgoing:?}");
        });
    }

    #[test]
    fn export_is_off_without_an_endpoint() {
        let s = settings(&[]);
        assert_eq!(s.otlp_endpoint, None);
        assert!(!s.json);
        assert!(!s.capture_content);
        assert_eq!(s.log_filter, None);
    }

    #[test]
    fn traces_endpoint_wins_and_sdk_disabled_turns_export_off() {
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:4317"),
        ]);
        assert_eq!(s.otlp_endpoint.as_deref(), Some("http://b:4317"));
        let off = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4317"),
            ("OTEL_SDK_DISABLED", "true"),
        ]);
        assert_eq!(off.otlp_endpoint, None);
        let none = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4317"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ]);
        assert_eq!(none.otlp_endpoint, None);
        assert_eq!(
            settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "  ")]).otlp_endpoint,
            None
        );
    }

    #[test]
    fn log_format_and_capture_switches() {
        let s = settings(&[
            ("LOG_FORMAT", "JSON"),
            ("RUST_LOG", "debug"),
            ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true"),
        ]);
        assert!(s.json);
        assert_eq!(s.log_filter.as_deref(), Some("debug"));
        assert!(s.capture_content);
        assert!(settings(&[("CADUCEUS_CAPTURE_CONTENT", "1")]).capture_content);
        assert!(!settings(&[("CADUCEUS_CAPTURE_CONTENT", "no")]).capture_content);
    }

    #[test]
    fn only_grpc_is_a_supported_protocol() {
        assert_eq!(settings(&[]).unsupported_protocol, None);
        assert_eq!(
            settings(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unsupported_protocol,
            None
        );
        assert_eq!(
            settings(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")])
                .unsupported_protocol
                .as_deref(),
            Some("http/protobuf")
        );
    }
}
