//! gRPC surface: reflection (v1 and v1alpha) lists every `caduceus.v1` service, and a gRPC-Web
//! call over plain HTTP/1.1 succeeds on the same port.

use caduceus_proto::v1::GetHealthResponse;
use caduceus_tests::app::TestApp;
use prost::Message;

#[tokio::test]
async fn reflection_v1_lists_every_caduceus_service() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let app = TestApp::spawn().await;
    let mut client = ServerReflectionClient::new(app.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let answer = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in caduceus_proto::SERVICE_NAMES {
        assert!(
            names.iter().any(|n| n == service),
            "{service} missing from {names:?}"
        );
    }
    assert!(names.iter().any(|n| n == "grpc.health.v1.Health"));
    app.stop().await;
}

#[tokio::test]
async fn reflection_v1alpha_is_served_for_older_grpcurl() {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let app = TestApp::spawn().await;
    let mut client = ServerReflectionClient::new(app.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "caduceus.v1.ChatService".into(),
        )),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let answer = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::FileDescriptorResponse(files)) = answer.message_response else {
        panic!("unexpected reflection answer");
    };
    assert!(!files.file_descriptor_proto.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn grpc_web_call_succeeds_over_http1() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder().http1_only().build().unwrap();
    // A gRPC-Web frame: flag 0 (data), big-endian length, then the (empty) request message.
    let body = vec![0u8, 0, 0, 0, 0];
    let response = client
        .post(app.url("/caduceus.v1.DiscoveryService/GetHealth"))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes[0], 0, "first frame must be a data frame");
    let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
    let message = GetHealthResponse::decode(&bytes[5..5 + len]).unwrap();
    assert_eq!(message.status, "ok");
    assert_eq!(message.platform, "hermes-agent");
    let trailers = String::from_utf8_lossy(&bytes[5 + len + 5..]).to_ascii_lowercase();
    assert_eq!(bytes[5 + len], 0x80, "trailer frame expected");
    assert!(trailers.contains("grpc-status:0"), "trailers: {trailers}");
    app.stop().await;
}

#[tokio::test]
async fn grpc_web_without_key_is_unauthenticated() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder().http1_only().build().unwrap();
    let response = client
        .post(app.url("/caduceus.v1.DiscoveryService/ListModels"))
        .header("content-type", "application/grpc-web+proto")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .unwrap();
    let grpc_status = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
    // Trailers-only responses carry the status in headers; otherwise in the trailer frame.
    assert!(
        grpc_status.as_deref() == Some("16") || text.contains("grpc-status:16"),
        "expected UNAUTHENTICATED, got headers {grpc_status:?} body {text}"
    );
    app.stop().await;
}
