//! The gRPC server surface: every `caduceus.v1` service, standard health, reflection (v1 and
//! v1alpha) and gRPC-Web, assembled into one axum router behind API-key authentication.
//! RPC bodies stay thin: validate, convert to domain types, call the core, convert back.

pub mod chat;
pub mod discovery;
pub mod headers;
pub mod jobs;
pub mod responses;
pub mod runs;
pub mod sessions;
pub mod streaming;
pub mod validate;

use caduceus_proto::v1::chat_service_server::ChatServiceServer;
use caduceus_proto::v1::discovery_service_server::DiscoveryServiceServer;
use caduceus_proto::v1::job_service_server::JobServiceServer;
use caduceus_proto::v1::responses_service_server::ResponsesServiceServer;
use caduceus_proto::v1::run_service_server::RunServiceServer;
use caduceus_proto::v1::session_service_server::SessionServiceServer;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::auth::{self, ApiKeyCheck};
use crate::state::AppState;

/// Largest accepted or sent gRPC message: above the REST body limit (10 MB) so any REST request
/// the facade accepts also fits through gRPC.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Failure to assemble the gRPC surface (only reflection can fail, on a broken descriptor set).
#[derive(Debug, thiserror::Error)]
#[error("cannot build gRPC reflection: {0}")]
pub struct BuildError(#[from] tonic_reflection::server::Error);

/// The gRPC router plus the handle that flips health to NOT_SERVING while draining.
pub struct GrpcSurface {
    /// Serves gRPC (HTTP/2) and gRPC-Web (HTTP/1.1) on any path `/<package>.<Service>/<Method>`.
    pub router: axum::Router,
    /// Standard health status of every service.
    pub health: HealthReporter,
}

macro_rules! limits {
    ($server:expr) => {
        $server
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    };
}

/// Builds every gRPC service over `state`.
pub async fn surface(state: &AppState) -> Result<GrpcSurface, BuildError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("", ServingStatus::Serving).await;
    for name in caduceus_proto::SERVICE_NAMES {
        health
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(caduceus_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(caduceus_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let routes = tonic::service::Routes::new(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(limits!(DiscoveryServiceServer::new(
            discovery::Discovery::new(state.clone())
        )))
        .add_service(limits!(ChatServiceServer::new(chat::Chat::new(
            state.clone()
        ))))
        .add_service(limits!(ResponsesServiceServer::new(
            responses::Responses::new(state.clone())
        )))
        .add_service(limits!(SessionServiceServer::new(sessions::Sessions::new(
            state.clone()
        ))))
        .add_service(limits!(RunServiceServer::new(runs::Runs::new(
            state.clone()
        ))))
        .add_service(limits!(JobServiceServer::new(jobs::Jobs::new(
            state.clone()
        ))));

    let check = ApiKeyCheck::new(state.config.api_key.expose());
    let router = routes
        .into_axum_router()
        .layer(axum::middleware::from_fn_with_state(
            check,
            auth::require_api_key,
        ))
        // Server span + metrics: inside gRPC-Web (sees plain gRPC), outside auth (refusals count).
        .layer(axum::middleware::from_fn_with_state(
            crate::telemetry::grpc::GrpcTelemetry::new(state.gauges.metrics().clone()),
            crate::telemetry::grpc::observe,
        ))
        .layer(tonic_web::GrpcWebLayer::new());
    Ok(GrpcSurface { router, health })
}

/// Marks every service NOT_SERVING (draining), so load balancers stop sending new work.
pub async fn mark_not_serving(health: &HealthReporter) {
    health
        .set_service_status("", ServingStatus::NotServing)
        .await;
    for name in caduceus_proto::SERVICE_NAMES {
        health
            .set_service_status(*name, ServingStatus::NotServing)
            .await;
    }
}
