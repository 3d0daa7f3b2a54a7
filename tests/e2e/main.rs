//! End-to-end tests: the real server on port 0 (and the real binary), driven over REST, gRPC
//! and gRPC-Web. One test binary, so the workspace links once.

// Test helpers outside #[test] functions panic on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod bad_input;
mod binary;
mod chat;
mod cors;
mod discovery;
mod faults;
mod grpc;
mod idempotency;
mod jobs;
mod limits;
mod observability;
mod replicas;
mod responses;
mod runs;
mod sessions;
mod upstream;
