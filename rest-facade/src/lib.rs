//! `caduceus-rest`: the OpenAI-compatible REST/SSE facade. Every route parses the HTTP request,
//! translates it into a `caduceus.v1` message, calls the service through a generated tonic client
//! and translates the answer back — no business logic, no database, no dependency on the service
//! crate. The gRPC [`Transport`] is a boxed tower service, so the same router runs over a remote
//! channel, loopback, or the service's in-process tonic router (tests).
//!
//! This file holds the public entry points (`router`, the transport constructors) and the layer
//! order; the cross-cutting middleware is in `middleware.rs`, the routes under `routes/`.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use bytes::Bytes;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

mod error;
mod extract;
#[doc(hidden)]
pub mod fuzzing;
mod metadata;
mod middleware;
mod openapi;
mod routes;
mod sse;
mod state;
mod telemetry;

/// Boxed error of the transport (tonic's own `BoxError` shape).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A gRPC transport: a tonic Channel (remote core) or the in-process tonic router.
pub type Transport = BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    BoxError,
>;

/// Default request-body limit (API.md §2): 10,000,000 bytes.
pub const DEFAULT_BODY_LIMIT: usize = 10_000_000;

/// What the deployment decides about the HTTP surface.
#[derive(Debug, Clone)]
pub struct FacadeOptions {
    /// Allowed browser origins (`*` = any); empty = every `Origin` is refused.
    pub cors_origins: Vec<String>,
    /// Largest accepted request body in bytes.
    pub body_limit: usize,
}

impl Default for FacadeOptions {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

/// The whole REST facade as an axum router. Layers, outermost first: the HTTP span and metrics
/// (`telemetry.rs`), request id, CORS, security headers, error-envelope safety net, body limit;
/// then the routes (each behind the bearer check except `GET /health` and `GET /v1/health`;
/// `GET /metrics` included), the open `GET /openapi.json`, a 404 and a 405 fallback.
pub fn router(transport: Transport, options: FacadeOptions) -> axum::Router {
    let mut all = routes::all();
    all.push(telemetry::metrics_route());
    let (routes, specs) = routes::build(all);
    let state = state::AppState::new(transport, specs);
    let cors = Arc::new(middleware::CorsPolicy::new(&options.cors_origins));
    routes
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::require_bearer,
        ))
        // After `route_layer`: the document is open, like `/health`.
        .route(openapi::PATH, axum::routing::get(openapi::serve))
        .fallback(middleware::not_found)
        .layer(DefaultBodyLimit::max(options.body_limit))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            options.body_limit,
            middleware::content_length_limit,
        ))
        .layer(axum::middleware::from_fn(middleware::envelope_errors))
        .layer(axum::middleware::from_fn(middleware::security_headers))
        .layer(axum::middleware::from_fn_with_state(cors, middleware::cors))
        .layer(axum::middleware::from_fn(middleware::request_id))
        .layer(axum::middleware::from_fn_with_state(
            caduceus_observability::metrics::HttpMetrics::new(),
            telemetry::observe,
        ))
}

/// A transport over a tonic channel to a remote (or loopback) Caduceus gRPC server.
pub fn transport_from_channel(channel: tonic::transport::Channel) -> Transport {
    BoxCloneSyncService::new(channel.map_err(|error| Box::new(error) as BoxError))
}

/// An in-process transport over any tower service answering gRPC requests, e.g. the service
/// crate's `axum::Router` of tonic services (no socket, same code path as over the network).
pub fn transport_from_service<S, B>(svc: S) -> Transport
where
    S: tower::Service<http::Request<tonic::body::Body>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let svc = svc
        .map_response(|response: http::Response<B>| response.map(tonic::body::Body::new))
        .map_err(Into::into);
    BoxCloneSyncService::new(svc)
}

#[cfg(test)]
mod tests;
