//! The canonical Caduceus API, `caduceus.v1`: prost messages, tonic clients and servers generated
//! at build time from `proto/caduceus/v1/*.proto`, the descriptor set for server reflection, and
//! conversions between protobuf `Struct`/`Value` and `serde_json` that both the facade and the
//! service need. Nothing here knows about HTTP routes or the database.

pub mod json;

/// Generated code for the `caduceus.v1` package.
pub mod v1 {
    #![allow(
        missing_docs,
        clippy::doc_lazy_continuation,
        clippy::large_enum_variant
    )]
    tonic::include_proto!("caduceus.v1");
}

/// Encoded `FileDescriptorSet` of every `caduceus.v1` file, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("caduceus_descriptor");

/// Fully qualified names of every `caduceus.v1` service, for health reporting and reflection tests.
pub const SERVICE_NAMES: &[&str] = &[
    "caduceus.v1.DiscoveryService",
    "caduceus.v1.ChatService",
    "caduceus.v1.ResponsesService",
    "caduceus.v1.SessionService",
    "caduceus.v1.RunService",
    "caduceus.v1.JobService",
];
