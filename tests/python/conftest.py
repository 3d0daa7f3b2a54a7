"""Fixtures for the client-compatibility tests: the real `caduceus` binary on a free port with a
temp home, and Python gRPC stubs generated from proto/ with grpcio-tools."""

import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
API_KEY = "python-client-key-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, port: int, home: str, proc: subprocess.Popen):
        self.port = port
        self.home = home
        self.proc = proc
        self.base = f"http://127.0.0.1:{port}"
        self.grpc_target = f"127.0.0.1:{port}"


def start_server(env_extra=None, config_yaml=None) -> Server:
    binary = os.environ.get("CADUCEUS_BIN", str(ROOT / "target" / "debug" / "caduceus"))
    home = tempfile.mkdtemp(prefix="caduceus-py-")
    if config_yaml:
        pathlib.Path(home, "config.yaml").write_text(config_yaml)
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", home),
        "HERMES_HOME": home,
        "API_SERVER_KEY": API_KEY,
        "API_SERVER_PORT": str(port),
        "RUST_LOG": "warn",
    }
    env.update(env_extra or {})
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr)
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"caduceus exited with {proc.returncode}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                return Server(port, home, proc)
        except requests.RequestException:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("caduceus did not become healthy")


def stop_server(server: Server) -> int:
    server.proc.terminate()
    return server.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server():
    srv = start_server()
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def stubs():
    """Generates caduceus.v1 Python stubs into a temp dir and imports them."""
    from grpc_tools import protoc
    import grpc_tools

    out = tempfile.mkdtemp(prefix="caduceus-stubs-")
    proto_root = ROOT / "proto"
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    files = sorted(str(p.relative_to(proto_root)) for p in (proto_root / "caduceus" / "v1").glob("*.proto"))
    code = protoc.main(
        ["grpc_tools.protoc", f"-I{proto_root}", f"-I{well_known}", f"--python_out={out}", f"--grpc_python_out={out}", *files]
    )
    assert code == 0, "protoc failed"
    sys.path.insert(0, out)
    import caduceus.v1.discovery_pb2 as discovery_pb2  # noqa: E402
    import caduceus.v1.discovery_pb2_grpc as discovery_pb2_grpc  # noqa: E402

    return {"discovery_pb2": discovery_pb2, "discovery_pb2_grpc": discovery_pb2_grpc}


FAKE_DEFAULT_REPLY = "(fake upstream: no scripted reply)"


@pytest.fixture(scope="module")
def fake_upstream():
    """The scripted fake LLM (`caduceus-fake-upstream`), answering with its default text."""
    binary = os.environ.get(
        "CADUCEUS_FAKE_UPSTREAM_BIN", str(ROOT / "target" / "debug" / "caduceus-fake-upstream")
    )
    proc = subprocess.Popen([binary], stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    base_url = proc.stdout.readline().strip()
    assert base_url.startswith("http://"), f"unexpected first line: {base_url!r}"
    yield base_url
    proc.kill()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def agent_server(fake_upstream):
    """The real binary with its agent pointed at the fake upstream."""
    config = f"model:\n  provider: custom\n  base_url: {fake_upstream}\n  default: fake-model\n"
    srv = start_server(config_yaml=config)
    yield srv
    stop_server(srv)
