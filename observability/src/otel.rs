//! The OpenTelemetry pipeline: the resource (service name `caduceus` unless `OTEL_SERVICE_NAME`
//! or `OTEL_RESOURCE_ATTRIBUTES` name it), the tracer provider (OTLP/gRPC batch export when
//! enabled; the SDK reads the sampler, batch and exporter settings from the standard `OTEL_*`
//! variables), and the `tracing` layer with its own filter.
//!
//! The layer's filter keeps every INFO-or-above span of the Caduceus crates whatever `RUST_LOG`
//! says (a quiet log must not break traces), and only WARN-or-above events of other crates, so
//! HTTP/2 and database internals never flood the trace backend.

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanExporter};
use tracing::Subscriber;
use tracing::level_filters::LevelFilter;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{Filtered, Targets};
use tracing_subscriber::registry::LookupSpan;

/// `service.name` when the environment does not set one.
pub const DEFAULT_SERVICE_NAME: &str = "caduceus";

/// Crates whose spans are always exported.
const OWN_TARGETS: &[&str] = &[
    "caduceus",
    "caduceus_service",
    "caduceus_rest",
    "caduceus_observability",
];

/// The resource describing this process: the SDK's detectors (`OTEL_SERVICE_NAME`,
/// `OTEL_RESOURCE_ATTRIBUTES`, telemetry SDK facts), with `service.name = caduceus` and
/// `service.version` filled in when the environment does not provide them.
pub fn resource() -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    let versioned = detected
        .get(&opentelemetry::Key::from_static_str("service.version"))
        .is_some();
    let mut builder = Resource::builder();
    if !named {
        builder = builder.with_service_name(DEFAULT_SERVICE_NAME);
    }
    if !versioned {
        builder =
            builder.with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    }
    builder.build()
}

/// The provider for the binary: batch export over OTLP/gRPC when `export` is set, else no
/// exporter (spans still get ids, so trace context propagates to the upstream LLM). Returns the
/// exporter's build error, if any, for the caller to log once logging is up.
pub(crate) fn provider_from_env(export: bool) -> (SdkTracerProvider, Option<String>) {
    let mut builder = SdkTracerProvider::builder().with_resource(resource());
    let mut error = None;
    if export {
        match opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
        {
            Ok(exporter) => builder = builder.with_batch_exporter(exporter),
            Err(failure) => error = Some(failure.to_string()),
        }
    }
    (builder.build(), error)
}

/// A provider exporting every finished span synchronously to `exporter` (tests: an in-memory
/// exporter), with the same resource as the binary.
pub fn tracer_provider_with_exporter<E>(exporter: E) -> SdkTracerProvider
where
    E: SpanExporter + 'static,
{
    SdkTracerProvider::builder()
        .with_resource(resource())
        .with_simple_exporter(exporter)
        .build()
}

/// The `tracing` → OpenTelemetry layer over `provider`, with its own filter (see the module
/// header). Install it next to any log layer; it never needs `RUST_LOG`.
pub fn otel_layer<S>(
    provider: &SdkTracerProvider,
) -> Filtered<OpenTelemetryLayer<S, SdkTracer>, Targets, S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let tracer = provider.tracer("caduceus");
    let targets = OWN_TARGETS
        .iter()
        .fold(Targets::new(), |targets, target| {
            targets.with_target(*target, LevelFilter::INFO)
        })
        .with_default(LevelFilter::WARN);
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_threads(false)
        .with_filter(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_the_service() {
        // The test environment sets no OTEL_SERVICE_NAME.
        if std::env::var("OTEL_SERVICE_NAME").is_ok()
            || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok()
        {
            return;
        }
        let resource = resource();
        let name = resource
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|v| v.as_str().into_owned());
        assert_eq!(name.as_deref(), Some(DEFAULT_SERVICE_NAME));
        assert!(
            resource
                .get(&opentelemetry::Key::from_static_str("service.version"))
                .is_some()
        );
    }
}
