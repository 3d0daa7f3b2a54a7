//! The state every handler receives: one generated tonic client per `caduceus.v1` service, all
//! over the same boxed [`Transport`], plus the route table (for `/v1/capabilities`), behind one
//! `Arc`: axum clones the state for every request, and that is one reference count instead of six
//! boxed clients. There is no other state — the facade keeps nothing between requests.
//!
//! The clients run over [`GrpcChannel`], the transport with its `BoxError` wrapped in the concrete
//! [`TransportError`]: with a `Box<dyn Error>` service error, rustc cannot prove the handler
//! futures `Send` ("implementation of `From` is not general enough", a known higher-ranked
//! lifetime limitation), so every route module would have to box its gRPC calls.

use std::ops::Deref;
use std::sync::Arc;

use caduceus_proto::v1::chat_service_client::ChatServiceClient;
use caduceus_proto::v1::discovery_service_client::DiscoveryServiceClient;
use caduceus_proto::v1::job_service_client::JobServiceClient;
use caduceus_proto::v1::responses_service_client::ResponsesServiceClient;
use caduceus_proto::v1::run_service_client::RunServiceClient;
use caduceus_proto::v1::session_service_client::SessionServiceClient;

use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use crate::routes::RouteSpec;
use crate::{BoxError, Transport};

/// A transport error in a concrete type; `source()` keeps the original chain, so tonic still
/// recognises connection failures (`UNAVAILABLE`) when it converts the error into a `Status`.
#[derive(Debug)]
pub struct TransportError(BoxError);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// The [`Transport`] as the generated clients use it (see the module header for why).
pub type GrpcChannel = BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    TransportError,
>;

/// Largest gRPC message the facade accepts from the service (long session histories).
const MAX_DECODING_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// Handler state: the gRPC clients and the facade's own route table, shared (a clone is one
/// reference count); fields are reached through `Deref` (`state.chat.clone()`).
#[derive(Clone)]
pub struct AppState(Arc<Clients>);

/// The gRPC clients and the route table of [`AppState`]. A handler clones the one client it
/// calls (tonic clients need `&mut self`).
pub struct Clients {
    pub discovery: DiscoveryServiceClient<GrpcChannel>,
    pub chat: ChatServiceClient<GrpcChannel>,
    pub responses: ResponsesServiceClient<GrpcChannel>,
    pub sessions: SessionServiceClient<GrpcChannel>,
    pub runs: RunServiceClient<GrpcChannel>,
    pub jobs: JobServiceClient<GrpcChannel>,
    pub routes: Vec<RouteSpec>,
}

impl Deref for AppState {
    type Target = Clients;

    fn deref(&self) -> &Clients {
        &self.0
    }
}

impl AppState {
    /// Clients for every service over `transport`; `routes` is what `/v1/capabilities` lists.
    pub fn new(transport: Transport, routes: Vec<RouteSpec>) -> Self {
        let channel: GrpcChannel = BoxCloneSyncService::new(transport.map_err(TransportError));
        Self(Arc::new(Clients {
            discovery: DiscoveryServiceClient::new(channel.clone())
                .max_decoding_message_size(MAX_DECODING_MESSAGE_SIZE),
            chat: ChatServiceClient::new(channel.clone())
                .max_decoding_message_size(MAX_DECODING_MESSAGE_SIZE),
            responses: ResponsesServiceClient::new(channel.clone())
                .max_decoding_message_size(MAX_DECODING_MESSAGE_SIZE),
            sessions: SessionServiceClient::new(channel.clone())
                .max_decoding_message_size(MAX_DECODING_MESSAGE_SIZE),
            runs: RunServiceClient::new(channel.clone())
                .max_decoding_message_size(MAX_DECODING_MESSAGE_SIZE),
            jobs: JobServiceClient::new(channel)
                .max_decoding_message_size(MAX_DECODING_MESSAGE_SIZE),
            routes,
        }))
    }
}
