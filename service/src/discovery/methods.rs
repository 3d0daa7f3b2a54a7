//! The gRPC method list, read from the compiled descriptor set so the capabilities answer can
//! never drift from what the server really serves.

use prost::Message;
use prost_types::FileDescriptorSet;

/// One RPC: its short name (`ChatService.CreateChatCompletion`) and full path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcMethod {
    /// `Service.Method`.
    pub name: String,
    /// `/caduceus.v1.Service/Method`.
    pub path: String,
}

/// Every RPC of `caduceus.v1`, in declaration order.
pub fn caduceus_methods() -> Vec<RpcMethod> {
    let Ok(set) = FileDescriptorSet::decode(caduceus_proto::FILE_DESCRIPTOR_SET) else {
        return Vec::new();
    };
    let mut methods = Vec::new();
    for file in &set.file {
        let package = file.package();
        for service in &file.service {
            for method in &service.method {
                methods.push(RpcMethod {
                    name: format!("{}.{}", service.name(), method.name()),
                    path: format!("/{package}.{}/{}", service.name(), method.name()),
                });
            }
        }
    }
    methods
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_service_of_the_contract() {
        let methods = caduceus_methods();
        for service in caduceus_proto::SERVICE_NAMES {
            assert!(
                methods
                    .iter()
                    .any(|m| m.path.starts_with(&format!("/{service}/"))),
                "{service} missing"
            );
        }
        assert!(
            methods
                .iter()
                .any(|m| m.path == "/caduceus.v1.ChatService/StreamChatCompletion")
        );
    }
}
