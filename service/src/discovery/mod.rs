//! What the server can tell about itself without running the agent: skills on disk, the
//! built-in toolset catalogue, advertised models and the gRPC method list.

pub mod methods;
pub mod skills;
pub mod toolsets;
