//! Caduceus core: configuration, persistence, the gRPC API (`caduceus.v1`, health, reflection,
//! gRPC-Web), API-key auth and the one-port server that also mounts the REST facade.
//!
//! The binary (`src/main.rs`) is a thin shell over [`launch`]; tests drive [`server::serve`]
//! directly with a listener on port 0.

pub mod agent;
pub mod approvals;
pub mod auth;
pub mod cli;
pub mod config;
pub mod discovery;
pub mod error;
pub mod grpc;
pub mod idempotency;
pub mod jobs;
pub mod launch;
pub mod llm;
pub mod notify;
pub mod responses;
pub mod runs;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tools;
