//! End-to-end tests: the real server on port 0 (and the real binary), driven over REST, gRPC
//! and gRPC-Web. One test binary, so the workspace links once.

mod auth;
mod binary;
mod cors;
mod discovery;
mod grpc;
mod limits;
