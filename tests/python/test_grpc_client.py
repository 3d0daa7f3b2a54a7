"""A polyglot backend's view: the official Python `grpcio` client against the real binary."""

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from conftest import API_KEY


def test_health_is_serving_without_a_key(server):
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        answer = stub.Check(health_pb2.HealthCheckRequest(service="caduceus.v1.ChatService"), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_caduceus_services(server):
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        answers = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
        names = {s.name for s in answers[0].list_services_response.service}
        for service in ["DiscoveryService", "ChatService", "ResponsesService", "SessionService", "RunService", "JobService"]:
            assert f"caduceus.v1.{service}" in names


def test_generated_stub_needs_the_key(server, stubs):
    pb2, pb2_grpc = stubs["discovery_pb2"], stubs["discovery_pb2_grpc"]
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = pb2_grpc.DiscoveryServiceStub(channel)
        try:
            stub.ListModels(pb2.ListModelsRequest(), timeout=5)
            raise AssertionError("expected UNAUTHENTICATED")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        models = stub.ListModels(
            pb2.ListModelsRequest(), metadata=[("authorization", f"Bearer {API_KEY}")], timeout=5
        )
        assert models.data[0].id == "hermes-agent"
