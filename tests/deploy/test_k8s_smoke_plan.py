"""The container smoke test's plan (scripts/k8s-smoke.py), without docker: the production
overlay becomes `docker run` commands that keep the manifest's command, args, env and security
settings, and put every replica on loopback ports of its own."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/convtrack_smoke_test"


def smoke_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("k8s_smoke", ROOT / "scripts" / "k8s-smoke.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["k8s_smoke"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def smoke_plan(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The plan of the production overlay, with the run's generated Secrets."""
    if shutil.which("kubectl") is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl is missing on CI: the manifests cannot be rendered")
        pytest.skip("kubectl is not installed, so the manifests cannot be rendered")
    smoke = smoke_module()
    objects = smoke.render(smoke.OVERLAY)
    generated = smoke.generated_secrets(tmp_path_factory.mktemp("certificates"))
    return smoke.plan(objects, smoke.load_fixture(smoke.FIXTURE, DATABASE_URL), "t1", generated)


@pytest.fixture(scope="module")
def runs(smoke_plan: Any, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, list[str]]]:
    """Each pod (the migrate Job's first) with its `docker run` arguments."""
    smoke = sys.modules["k8s_smoke"]
    files = tmp_path_factory.mktemp("files")
    return [
        (
            pod,
            smoke.docker_run_args(
                smoke_plan, pod, pod.spec["containers"][0], "convtrack:x", files, "t1"
            ),
        )
        for pod in [smoke_plan.job, *smoke_plan.pods]
    ]


def env_of(args: list[str]) -> dict[str, str]:
    pairs = [args[i + 1] for i, arg in enumerate(args) if arg == "--env"]
    return dict(pair.split("=", 1) for pair in pairs)


def test_every_replica_of_the_production_overlay_runs(runs: list[tuple[Any, list[str]]]) -> None:
    components = sorted(pod.component for pod, _ in runs[1:])
    # ingest's count belongs to its HPA (minReplicas 2); the others run 2 replicas.
    assert components == sorted(["ingest", "identity", "attribution", "reporting"] * 2)


def test_containers_keep_the_manifest_security_and_command(
    runs: list[tuple[Any, list[str]]],
) -> None:
    for pod, args in runs:
        joined = " ".join(args)
        assert "--network host" in joined
        assert "--user 10001:10001" in joined
        assert "--read-only" in args
        assert "--cap-drop ALL" in joined
        assert "--security-opt no-new-privileges" in joined
        assert re.search(r"--tmpfs /tmp:size=\d+m", joined)
        image_at = args.index("convtrack:x")
        assert args[image_at + 1 :] == pod.spec["containers"][0]["args"]
        assert env_of(args)["CONVTRACK_DATABASE_URL"] == DATABASE_URL


def test_every_address_is_on_loopback_and_each_replica_has_its_own_ports(
    runs: list[tuple[Any, list[str]]], smoke_plan: Any
) -> None:
    listening: list[str] = []
    for pod, args in runs[1:]:
        env = env_of(args)
        for name, value in env.items():
            assert "0.0.0.0" not in value, (pod.name, name, value)
            assert not re.search(r"convtrack-\w+(\.[\w.]+)?:\d+", value), (pod.name, name, value)
        listen = env[f"{pod.component.upper()}_LISTEN"]
        assert listen == f"127.0.0.1:{pod.ports[int(next(iter(pod.ports)))]}"
        listening.append(listen)
        for peer in ("INGEST", "IDENTITY", "ATTRIBUTION"):
            for variable in (f"{peer}_ADDR", f"{peer}_INTERNAL_ADDR"):
                # one address per Service (its proxy), which the certificates' 127.0.0.1 covers
                assert re.fullmatch(r"127\.0\.0\.1:\d+", env[variable]), (variable, env[variable])
            backends = smoke_plan.services[f"convtrack-{peer.lower()}"]
            assert all(len(addresses) == 2 for addresses in backends.values())
        assert f"k8s.pod.name={pod.name}" in env["OTEL_RESOURCE_ATTRIBUTES"]
        assert env["OTEL_TRACES_EXPORTER"] == "none"  # from the fixture: no collector here
    assert len(set(listening)) == len(listening)


def test_the_secured_overlay_gets_certificates_and_a_vault_secret(
    runs: list[tuple[Any, list[str]]], smoke_plan: Any
) -> None:
    """Every Deployment mounts its certificate and the CA from the generated `convtrack-tls`;
    ingest and the Job get a vault secret strong enough for ingest to start on PostgreSQL."""
    from services.ingest.vault_secrets import parse_secret

    tls = smoke_plan.secrets["convtrack-tls"]
    for pod, args in runs[1:]:
        mounts = [args[i + 1] for i, arg in enumerate(args) if arg == "--mount"]
        tls_mount = next(m for m in mounts if m.endswith("dst=/etc/convtrack/tls,ro"))
        source = Path(tls_mount.split(",")[1].removeprefix("src="))
        names = sorted(path.name for path in source.iterdir())
        assert names == sorted(["ca.crt", f"{pod.component}.crt", f"{pod.component}.key"])
        assert (source / "ca.crt").read_text() == tls["ca.crt"]
        assert env_of(args)[f"{pod.component.upper()}_TLS_DIR"] == "/etc/convtrack/tls"
    assert "ca.key" not in tls and "client.key" in tls
    parse_secret(smoke_plan.secrets["convtrack-secrets"]["ingest-vault-secret"], "vault")


def test_a_service_proxy_skips_a_pod_that_refuses_connections() -> None:
    """The Service's loopback address reaches a live pod on every connection, also when the
    other pod is gone (killed), as kube-proxy would."""
    import socket
    import socketserver
    import threading

    smoke = sys.modules.get("k8s_smoke") or smoke_module()

    class Echo(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.sendall(self.request.recv(100))

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo) as alive:
        threading.Thread(target=alive.serve_forever, daemon=True).start()
        gone = smoke.free_port()  # nothing listens there
        live = f"127.0.0.1:{alive.server_address[1]}"
        listen = smoke.free_port()
        plan = smoke.Plan([], "convtrack", None, [])
        plan.services = {"convtrack-x": {1: [f"127.0.0.1:{gone}", live]}}
        plan.service_ports = {"convtrack-x": {1: listen}}
        try:
            with smoke.ServiceProxies(plan):
                for attempt in range(4):
                    with socket.create_connection(("127.0.0.1", listen), timeout=5) as client:
                        client.sendall(f"hello {attempt}".encode())
                        assert client.recv(100) == f"hello {attempt}".encode()
        finally:
            alive.shutdown()
