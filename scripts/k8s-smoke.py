"""Smoke test of the rendered production overlay, run as far as one machine can with docker.

    .venv/bin/python scripts/k8s-smoke.py [--overlay DIR] [--no-build] [--keep]

Renders the overlay with `kubectl kustomize`, builds the image (`make image`), creates a fresh
PostgreSQL database on 127.0.0.1:5432, runs the migrate Job's container, mints the admin key,
then runs every replica of every Deployment with `docker run --network host`, using exactly the
manifest's command, args, env and envFrom (ConfigMaps from the rendering, Secret values and the
settings that name things outside the cluster from tests/deploy/smoke-fixture.yaml; Secret and
ConfigMap volumes written to files and mounted where the manifest mounts them), its
securityContext (user, read-only root, no capabilities, no privilege escalation), its emptyDir
volumes as tmpfs and its limits. The replicas share the host's network, so each gets its own
loopback ports: every env value `0.0.0.0:<containerPort>` becomes `127.0.0.1:<its port>`, and
every env value naming a Service (`convtrack-ingest:50051`) becomes that Service's own loopback
address (`127.0.0.1:S`), where this script forwards each connection to the next of the Service's
pods that accepts it, as kube-proxy does. One address per Service (not an `ipv4:A,B` list) keeps
TLS honest: the certificates name 127.0.0.1, and gRPC checks a list's whole text as the host
name. Nothing listens on or sends to anything but 127.0.0.1.

The production overlay is secured, so the run makes what a cluster's operator would: dev
certificates (`convtrack certs dev`) as the Secret `convtrack-tls`, a random vault secret as
`convtrack-secrets`, and, after the migrate Job, an admin API key minted offline
(`convtrack keys create --admin --offline`, in the image with ingest's environment). The
commands sent from the image use the operators' client certificate (`--tls-dir`) and that key.

Then it checks every probe as the kubelet does (native gRPC probes: grpc.health.v1 Check with the
probe's service name on the probe's port, its timeout, period and failure threshold), runs
`convtrack sample send` and `convtrack report` from the image, kills (SIGKILL) identity's leader
and an attribution replica, and checks that the standbys lead and stay ready and that a new
property's events still reach the reports. Every container and the database are removed at the
end. Exit code 0 on success, 1 with the failing step and the containers' logs otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import secrets as random_secrets
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
OVERLAY = ROOT / "deploy" / "k8s" / "overlays" / "production"
FIXTURE = ROOT / "tests" / "deploy" / "smoke-fixture.yaml"
ADMIN_URL = os.environ.get(
    "SMOKE_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
LABEL = "io.convtrack.smoke"
SAMPLE_PROPERTY = "smoke-shop"
AFTER_FAILOVER_PROPERTY = "smoke-after-failover"
SAMPLE_VISITORS = int(os.environ.get("SMOKE_VISITORS", "400"))
READY_TIMEOUT = 180.0  # seconds a Deployment's pods have to become ready
REPORT_TIMEOUT = 300.0  # seconds for sent events to show up in a report
TAKEOVER_TIMEOUT = 30.0  # seconds for a standby to lead after its leader was killed
CONVTRACK_MAIN = "import sys; from services.cli import main; sys.exit(main(sys.argv[1:]))"
CLIENT_TLS_DIR = "/etc/convtrack/client-tls"  # the operators' certificate, in the CLI's container
ANY_ADDRESS = re.compile(r"^(?:0\.0\.0\.0|\[::\]|::|)?:(\d+)$")


class SmokeError(Exception):
    """A step of the smoke test failed."""


def say(message: str) -> None:
    print(f"k8s-smoke: {message}", flush=True)


# --- The plan: what runs, with which ports and environment -----------------------------------


@dataclass
class Pod:
    """One replica of a Deployment (or the Job's pod) and the loopback ports it listens on."""

    name: str
    workload: dict[str, Any]
    ports: dict[int, int]  # containerPort -> host loopback port

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.workload["spec"]["template"]["spec"]
        return spec

    @property
    def labels(self) -> dict[str, str]:
        labels: dict[str, str] = self.workload["spec"]["template"]["metadata"].get("labels", {})
        return labels

    @property
    def component(self) -> str:
        return self.labels.get("app.kubernetes.io/component", self.workload["metadata"]["name"])


@dataclass
class Plan:
    """The rendered objects, the pods to run and the Services' addresses on loopback."""

    objects: list[dict[str, Any]]
    namespace: str
    job: Pod
    pods: list[Pod]
    services: dict[str, dict[int, list[str]]] = field(default_factory=dict)  # name -> port -> addrs
    service_ports: dict[str, dict[int, int]] = field(default_factory=dict)  # name -> port -> proxy
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)


def render(overlay: Path) -> list[dict[str, Any]]:
    """The overlay's objects, rendered by `kubectl kustomize`."""
    done = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SmokeError(f"kubectl kustomize {overlay}: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def load_fixture(path: Path, database_url: str) -> dict[str, Any]:
    """The fixture file with `${DATABASE_URL}` filled in."""
    text = string.Template(path.read_text()).substitute(DATABASE_URL=database_url)
    fixture: dict[str, Any] = yaml.safe_load(text)
    return fixture


def generated_secrets(directory: Path) -> dict[str, dict[str, str]]:
    """The Secrets a cluster's operator creates (docs/deploy.md), made for this run:
    `convtrack-tls` from `convtrack certs dev` (written to `directory`, which keeps the
    operators' client.crt/.key) and `convtrack-secrets` with a random vault secret."""
    done = subprocess.run(
        [sys.executable, "-c", CONVTRACK_MAIN, "certs", "dev", str(directory)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    if done.returncode != 0:
        raise SmokeError(f"convtrack certs dev: {done.stderr.strip()}")
    tls = {path.name: path.read_text() for path in directory.glob("*.crt")}
    tls |= {path.name: path.read_text() for path in directory.glob("*.key") if path.stem != "ca"}
    vault = {
        "ingest-vault-secret": random_secrets.token_hex(32),
        "ingest-vault-secret-previous": "",
    }
    return {"convtrack-tls": tls, "convtrack-secrets": vault}


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range, never one this run handed out
    before. The pods bind it seconds later; a port from the ephemeral range (`bind(0)`) could
    by then be any connection's source port or another program's test server."""
    low = _ephemeral_ports_start()
    while True:
        port = random.randrange(low // 2, low)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port


def _ephemeral_ports_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _replicas(workload: dict[str, Any], objects: Sequence[dict[str, Any]]) -> int:
    """A Deployment's replica count, or its HPA's minimum when the HPA owns the count."""
    if "replicas" in workload["spec"]:
        return int(workload["spec"]["replicas"])
    for hpa in objects:
        target = hpa.get("spec", {}).get("scaleTargetRef", {})
        if (
            hpa["kind"] == "HorizontalPodAutoscaler"
            and target.get("name") == workload["metadata"]["name"]
        ):
            return int(hpa["spec"].get("minReplicas", 1))
    return 1


def _container_ports(workload: dict[str, Any]) -> list[int]:
    return [
        int(port["containerPort"])
        for container in workload["spec"]["template"]["spec"]["containers"]
        for port in container.get("ports", [])
    ]


def plan(
    objects: list[dict[str, Any]],
    fixture: Mapping[str, Any],
    run_id: str,
    generated: Mapping[str, Mapping[str, str]] | None = None,
) -> Plan:
    """Decides the pods (one per replica), their ports and the Services' loopback addresses;
    the Secrets are the fixture's and the `generated` ones the fixture lists."""
    jobs = [o for o in objects if o["kind"] == "Job"]
    if len(jobs) != 1:
        raise SmokeError(f"expected one Job (migrate), found {len(jobs)}")
    namespace = jobs[0]["metadata"].get("namespace", "default")
    job = Pod(f"{jobs[0]['metadata']['name']}-{run_id}", jobs[0], {})
    pods = []
    for workload in (o for o in objects if o["kind"] == "Deployment"):
        for replica in range(_replicas(workload, objects)):
            ports = {port: free_port() for port in _container_ports(workload)}
            pods.append(Pod(f"{workload['metadata']['name']}-{run_id}-{replica}", workload, ports))
    result = Plan(objects, namespace, job, pods)
    for service in (o for o in objects if o["kind"] == "Service"):
        selector = service["spec"].get("selector", {})
        members = [p for p in pods if selector.items() <= p.labels.items()]
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            addresses = [f"127.0.0.1:{pod.ports[_resolve_port(pod, target)]}" for pod in members]
            name = service["metadata"]["name"]
            result.services.setdefault(name, {})[int(port["port"])] = addresses
            result.service_ports.setdefault(name, {})[int(port["port"])] = free_port()
    overrides: Mapping[str, Mapping[str, str]] = fixture.get("configMaps", {}) or {}
    for config_map in (o for o in objects if o["kind"] == "ConfigMap"):
        name = config_map["metadata"]["name"]
        data = {k: str(v) for k, v in (config_map.get("data") or {}).items()}
        for base_name, values in overrides.items():
            if re.fullmatch(rf"{re.escape(base_name)}(-[a-z0-9]{{10}})?", name):
                data.update({k: str(v) for k, v in values.items()})
        result.config_maps[name] = data
    result.secrets = {
        name: {k: str(v) for k, v in values.items()}
        for name, values in (fixture.get("secrets", {}) or {}).items()
    }
    for name in fixture.get("generatedSecrets", []) or []:
        if generated is None or name not in generated:
            raise SmokeError(f"Secret {name!r} is to be generated for the run but was not")
        result.secrets[name] = dict(generated[name])
    return result


def _resolve_port(pod: Pod, port: int | str) -> int:
    """A probe's or Service's port, by number or by the container port's name."""
    if isinstance(port, int):
        return port
    for container in pod.spec["containers"]:
        for declared in container.get("ports", []):
            if declared.get("name") == port:
                return int(declared["containerPort"])
    raise SmokeError(f"{pod.name}: no container port named {port!r}")


def _secret_value(plan: Plan, name: str, key: str, where: str) -> str:
    if key not in plan.secrets.get(name, {}):
        raise SmokeError(f"{where}: Secret {name!r} key {key!r} is not in {FIXTURE.name}")
    return plan.secrets[name][key]


def _expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` references to earlier variables (`$$(VAR)` stays literal)."""
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
        lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
        value,
    )


def container_env(plan: Plan, pod: Pod, container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet builds it, then moved onto loopback: its own
    listen addresses on its ports, Service names as their pods' addresses."""
    where = f"{pod.name}/{container['name']}"
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            if name not in plan.config_maps:
                raise SmokeError(f"{where}: ConfigMap {name!r} is not rendered")
            env.update({prefix + k: v for k, v in plan.config_maps[name].items()})
        elif "secretRef" in source:
            name = source["secretRef"]["name"]
            if name not in plan.secrets:
                raise SmokeError(f"{where}: Secret {name!r} is not in {FIXTURE.name}")
            env.update({prefix + k: v for k, v in plan.secrets[name].items()})
    fields = {
        "metadata.name": pod.name,
        "metadata.namespace": plan.namespace,
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
        "spec.nodeName": socket.gethostname(),
        "spec.serviceAccountName": pod.spec.get("serviceAccountName", "default"),
    }
    for variable in container.get("env", []):
        name = variable["name"]
        if "value" in variable:
            env[name] = _expand(str(variable["value"]), env)
            continue
        source = variable.get("valueFrom", {})
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[name] = _secret_value(plan, ref["name"], ref["key"], where)
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            env[name] = plan.config_maps.get(ref["name"], {})[ref["key"]]
        elif "fieldRef" in source and source["fieldRef"]["fieldPath"] in fields:
            env[name] = fields[source["fieldRef"]["fieldPath"]]
        else:
            raise SmokeError(f"{where}: env {name} has a source the smoke test cannot give")
    return {name: _on_loopback(plan, pod, value) for name, value in env.items()}


def _on_loopback(plan: Plan, pod: Pod, value: str) -> str:
    listen = ANY_ADDRESS.match(value)
    if listen:  # another container's listen address (a shared ConfigMap) stays on loopback too
        port = int(listen.group(1))
        return f"127.0.0.1:{pod.ports.get(port, port)}"
    host, _, port = value.rpartition(":")
    service = host.split(".")[0]
    suffixes = ("", f".{plan.namespace}", f".{plan.namespace}.svc")
    if (
        port.isdigit()
        and service in plan.services
        and any(
            host == service + suffix or host == f"{service}{suffix}.cluster.local"
            for suffix in suffixes
        )
    ):
        if not plan.services[service].get(int(port)):
            raise SmokeError(f"{pod.name}: {value} names no port of Service {service}")
        return service_address(plan, service, int(port))
    return value


def service_address(plan: Plan, service: str, port: int | None = None) -> str:
    """A Service's loopback address (its first port when none is named)."""
    ports = plan.service_ports[service]
    return f"127.0.0.1:{ports[port if port is not None else next(iter(ports))]}"


def docker_run_args(
    plan: Plan, pod: Pod, container: dict[str, Any], image: str, files: Path, run_id: str
) -> list[str]:
    """The `docker run` arguments that run the container as its manifest says, on loopback."""
    spec = pod.spec
    pod_security = spec.get("securityContext", {})
    security = {**pod_security, **container.get("securityContext", {})}
    args = ["docker", "run", "--detach", "--name", pod.name, "--label", f"{LABEL}={run_id}"]
    args += ["--network", "host"]
    if "runAsUser" in security:
        args += ["--user", f"{security['runAsUser']}:{security.get('runAsGroup', 0)}"]
    if "fsGroup" in pod_security:
        args += ["--group-add", str(pod_security["fsGroup"])]
    if security.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    if security.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    for capability in security.get("capabilities", {}).get("drop", []):
        args += ["--cap-drop", capability]
    for capability in security.get("capabilities", {}).get("add", []):
        args += ["--cap-add", capability]
    limits = container.get("resources", {}).get("limits", {})
    if "memory" in limits:
        args += ["--memory", _docker_memory(str(limits["memory"]))]
    if "cpu" in limits:
        args += ["--cpus", _cpus(str(limits["cpu"]))]
    if "terminationGracePeriodSeconds" in spec:
        args += ["--stop-timeout", str(spec["terminationGracePeriodSeconds"])]
    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        read_only = ",ro" if mount.get("readOnly") else ""
        if "emptyDir" in volume:
            size = volume["emptyDir"].get("sizeLimit")
            options = f"size={_docker_memory(str(size))}," if size else ""
            args += ["--tmpfs", f"{mount['mountPath']}:{options}mode=1777"]
        elif "secret" in volume or "configMap" in volume:
            directory = _write_volume(plan, pod, volume, files)
            source = directory / mount["subPath"] if "subPath" in mount else directory
            args += ["--mount", f"type=bind,src={source},dst={mount['mountPath']}{read_only}"]
        else:
            raise SmokeError(f"{pod.name}: volume {mount['name']} of a kind the test cannot give")
    for name, value in container_env(plan, pod, container).items():
        args += ["--env", f"{name}={value}"]
    command = container.get("command", [])
    if command:
        args += ["--entrypoint", command[0]]
    args.append(image)
    args += [*command[1:], *container.get("args", [])]
    return args


def _write_volume(plan: Plan, pod: Pod, volume: dict[str, Any], files: Path) -> Path:
    """A Secret or ConfigMap volume as files (readable by the pod's user), like the kubelet's."""
    directory = files / pod.name / volume["name"]
    directory.mkdir(parents=True, exist_ok=True)
    if "secret" in volume:
        name = volume["secret"]["secretName"]
        data = plan.secrets.get(name)
        if data is None:
            raise SmokeError(f"{pod.name}: Secret {name!r} is not in {FIXTURE.name}")
    else:
        name = volume["configMap"]["name"]
        data = plan.config_maps[name]
    items = volume.get("secret", volume.get("configMap", {})).get("items")
    chosen = {item["key"]: item["path"] for item in items} if items else {k: k for k in data}
    for key, path in chosen.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(data[key])
        target.chmod(0o444)
    for folder in [directory, *directory.rglob("*")]:
        if folder.is_dir():
            folder.chmod(0o755)
    return directory


def _docker_memory(quantity: str) -> str:
    units = {"Ki": "k", "Mi": "m", "Gi": "g"}
    for suffix, docker_suffix in units.items():
        if quantity.endswith(suffix):
            return quantity[: -len(suffix)] + docker_suffix
    return quantity


def _cpus(quantity: str) -> str:
    return str(int(quantity[:-1]) / 1000) if quantity.endswith("m") else quantity


# --- Running it ------------------------------------------------------------------------------


class ServiceProxies:
    """Every Service port's loopback address, forwarding each TCP connection to the next of
    its pods (round robin) that accepts one, as kube-proxy spreads connections; a killed pod
    refuses, so its share goes to the others. Runs in a thread of its own."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: list[asyncio.base_events.Server] = []

    def __enter__(self) -> ServiceProxies:
        self._thread.start()
        for name, ports in self._plan.services.items():
            for port, backends in ports.items():
                listen = self._plan.service_ports[name][port]
                future = asyncio.run_coroutine_threadsafe(self._serve(listen, backends), self._loop)
                self._servers.append(future.result(timeout=10))
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _close(self) -> None:
        """Stops listening and ends every forwarded connection (the pods are gone by now)."""
        for server in self._servers:
            server.close()
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, listen: int, backends: list[str]) -> asyncio.base_events.Server:
        turns = itertools.cycle(range(len(backends)))

        async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            first = next(turns)
            for offset in range(len(backends)):
                host, _, port = backends[(first + offset) % len(backends)].rpartition(":")
                try:
                    upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
                except OSError:
                    continue
                try:
                    await asyncio.gather(
                        _pipe(reader, upstream_writer), _pipe(upstream_reader, writer)
                    )
                except asyncio.CancelledError:  # the proxies are closing: end quietly
                    upstream_writer.close()
                    writer.close()
                return
            writer.close()

        return await asyncio.start_server(forward, "127.0.0.1", listen)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


def docker(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise SmokeError(f"docker {' '.join(args[:3])}: {done.stderr.strip()[-2000:]}")
    return done


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for this run, dropped afterwards."""
    import psycopg

    name = f"convtrack_smoke_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def grpc_check(address: str, service: str, timeout: float) -> str:
    """One kubelet gRPC probe: the serving status's name, or the error code's name."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as error:
            return str(error.code().name)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def probe_until(pod: Pod, kind: str, deadline_seconds: float | None = None) -> float:
    """Runs a container's probe as the kubelet does, until it succeeds; the seconds it took.
    The startup probe fails after its failureThreshold; the others after `deadline_seconds`."""
    container = pod.spec["containers"][0]
    probe = container.get(kind)
    if probe is None:
        return 0.0
    if "grpc" not in probe:
        raise SmokeError(f"{pod.name}: {kind} is not a gRPC probe; the smoke test checks gRPC only")
    port = pod.ports[_resolve_port(pod, probe["grpc"]["port"])]
    service = probe["grpc"].get("service", "")
    period = float(probe.get("periodSeconds", 10))
    timeout = float(probe.get("timeoutSeconds", 1))
    attempts = int(probe.get("failureThreshold", 3))
    started = time.monotonic()
    time.sleep(float(probe.get("initialDelaySeconds", 0)))
    tries = 0
    while True:
        status = grpc_check(f"127.0.0.1:{port}", service, timeout)
        tries += 1
        if status == "SERVING":
            return time.monotonic() - started
        state = docker("inspect", "--format", "{{.State.Status}}", pod.name).stdout.strip()
        if state != "running":
            raise SmokeError(f"{pod.name} is {state} before its {kind} succeeded")
        out_of_time = deadline_seconds is not None and time.monotonic() - started > deadline_seconds
        if (deadline_seconds is None and tries >= attempts) or out_of_time:
            raise SmokeError(
                f"{pod.name}: {kind} (gRPC {service!r} on 127.0.0.1:{port}) answers {status} "
                f"after {time.monotonic() - started:.0f}s"
            )
        time.sleep(period)


@dataclass
class Operator:
    """What an operator's `convtrack` commands run with: the image, the client certificate's
    directory (client.crt/.key and ca.crt, readable by the image's user) and the admin key."""

    image: str
    run_id: str
    tls_dir: Path
    api_key: str = ""


def operator_tls_dir(certificates: Path, files: Path) -> Path:
    """The operators' client certificate and the CA, copied where the image's user can read
    them (`convtrack certs dev` writes keys for its owner only)."""
    directory = files / "operator-tls"
    directory.mkdir(mode=0o755)
    for name in ("client.crt", "client.key", "ca.crt"):
        (directory / name).write_bytes((certificates / name).read_bytes())
        (directory / name).chmod(0o444)
    return directory


def run_cli(operator: Operator, *args: str, timeout: float = 600) -> str:
    """`convtrack ARGS` from the image, as a client pod would run it, with the operators'
    certificate (`--tls-dir`) and the admin key (CONVTRACK_API_KEY); its stdout."""
    done = docker(
        "run", "--rm", "--network", "host", "--read-only", "--tmpfs", "/tmp",
        "--user", "10001:10001", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--label", f"{LABEL}={operator.run_id}",
        "--mount", f"type=bind,src={operator.tls_dir},dst={CLIENT_TLS_DIR},readonly",
        "--env", f"CONVTRACK_API_KEY={operator.api_key}",
        operator.image, *args, "--tls-dir", CLIENT_TLS_DIR, timeout=timeout,
    )  # fmt: skip
    return done.stdout


def mint_admin_key(plan: Plan, image: str, run_id: str, files: Path) -> str:
    """`convtrack keys create --admin --offline` in the image, run like the migrate Job but
    with ingest's environment and volumes (its database and vault secret); the key."""
    ingest = next(p for p in plan.pods if p.component == "ingest")
    minter = Pod(f"convtrack-keys-{run_id}", ingest.workload, ingest.ports)
    container = minter.spec["containers"][0]
    args = docker_run_args(plan, minter, container, image, files, run_id)
    image_at = args.index(image)
    args = [*args[:image_at], image, "keys", "create", "--admin", "--offline",
            "--description", "k8s smoke test operator"]  # fmt: skip
    args[args.index("--detach")] = "--rm"
    output = docker(*args[1:], timeout=300).stdout.strip().splitlines()
    if not output:
        raise SmokeError("convtrack keys create --admin --offline printed no key")
    return output[-1].strip()


def report_total(plan: Plan, operator: Operator, property_id: str) -> float:
    """The total purchase conversions of a property's report (last click), from the CLI."""
    reporting = service_address(plan, "convtrack-reporting")
    output = run_cli(
        operator, "report", "conversions", "--property", property_id,
        "--conversion", "purchase", "--format", "json", "--addr", reporting,
    )  # fmt: skip
    totals: dict[str, Any] = json.loads(output)["totals"]
    return sum(float(v) for k, v in totals.items() if k.endswith("conversions"))


def wait_for_report(plan: Plan, operator: Operator, property_id: str) -> float:
    """Polls the report until it shows conversions and stays the same for three polls."""
    started = time.monotonic()
    seen: list[float] = []
    while time.monotonic() - started < REPORT_TIMEOUT:
        try:
            seen.append(report_total(plan, operator, property_id))
        except SmokeError as error:
            say(f"report not answered yet: {str(error).splitlines()[-1][:200]}")
            seen.append(-1.0)
        if len(seen) >= 3 and seen[-1] > 0 and seen[-1] == seen[-2] == seen[-3]:
            return seen[-1]
        time.sleep(3)
    raise SmokeError(
        f"the {property_id} report did not settle within {REPORT_TIMEOUT:.0f}s: {seen}"
    )


LEADING = re.compile(r"^leading (?P<what>.+?)(?: shard (?P<shard>\d+) of \d+)? \(term \d+\)$")
GAVE_BACK = re.compile(r"^gave back (?P<what>\S+) shard (?P<shard>\d+) of \d+")


def log_messages(pod: Pod) -> list[str]:
    """The `message` of each JSON log line of the pod's container (other lines as they are)."""
    logs = docker("logs", pod.name, check=False)
    messages = []
    for line in (logs.stdout + logs.stderr).splitlines():
        try:
            messages.append(str(json.loads(line).get("message", line)))
        except (json.JSONDecodeError, AttributeError):
            messages.append(line)
    return messages


def held_locks(messages: Sequence[str]) -> set[tuple[str, str]]:
    """The locks (a log's leadership, or a shard) the messages say were taken and kept."""
    held: set[tuple[str, str]] = set()
    for message in messages:
        if taken := LEADING.match(message):
            held.add((taken["what"], taken["shard"] or ""))
        elif given := GAVE_BACK.match(message):
            held.discard((given["what"], given["shard"]))
        elif message.startswith(("lost leadership", "lost shards")):
            held.clear()
    return held


def kill_and_take_over(pods: list[Pod], component: str) -> None:
    """SIGKILLs the component's first replica that holds a lock; another replica must take
    every lock it held (its log says so), then be ready and live."""
    replicas = [p for p in pods if p.component == component]
    holding = {p.name: held_locks(log_messages(p)) for p in replicas}
    leaders = [p for p in replicas if holding[p.name]]
    if len(replicas) < 2 or not leaders:
        raise SmokeError(f"{component}: {len(replicas)} replicas, {len(leaders)} holding a lock")
    victim = leaders[0]
    standby = next(p for p in replicas if p is not victim)
    seen = len(log_messages(standby))
    started = time.monotonic()  # the takeover time includes the kill itself
    docker("kill", "--signal", "KILL", victim.name)
    pods.remove(victim)
    while time.monotonic() - started < TAKEOVER_TIMEOUT:
        taken = held_locks(log_messages(standby)[seen:])
        if holding[victim.name] <= taken:
            break
        time.sleep(0.5)
    else:
        raise SmokeError(
            f"{standby.name} did not take {sorted(holding[victim.name])} within "
            f"{TAKEOVER_TIMEOUT:.0f}s of the kill"
        )
    took = time.monotonic() - started
    probe_until(standby, "readinessProbe", READY_TIMEOUT)
    probe_until(standby, "livenessProbe", 30)
    locks = ", ".join(f"{what} shard {shard}" if shard else what for what, shard in
                      sorted(holding[victim.name]))  # fmt: skip
    say(f"killed {victim.name} (SIGKILL); {standby.name} took {locks} in {took:.1f}s, ready")


def dump_logs(run_id: str) -> None:
    names = docker("ps", "-a", "--filter", f"label={LABEL}={run_id}", "--format", "{{.Names}}",
                   check=False).stdout.split()  # fmt: skip
    for name in names:
        logs = docker("logs", "--tail", "25", name, check=False)
        print(f"--- {name} (last 25 lines)", file=sys.stderr)
        print((logs.stdout + logs.stderr).rstrip(), file=sys.stderr)


def remove_containers(run_id: str) -> None:
    names = docker("ps", "-a", "--filter", f"label={LABEL}={run_id}", "--format", "{{.Names}}",
                   check=False).stdout.split()  # fmt: skip
    if names:
        docker("rm", "--force", *names, check=False)
    say(f"removed {len(names)} containers")


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def smoke(overlay: Path, image: str, run_id: str, database_url: str, files: Path) -> None:
    """Every step after the build, on the given database."""
    objects = render(overlay)
    fixture = load_fixture(FIXTURE, database_url)
    certificates = files / "certificates"
    the_plan = plan(objects, fixture, run_id, generated_secrets(certificates))
    operator = Operator(image, run_id, operator_tls_dir(certificates, files))
    with ServiceProxies(the_plan):
        run_plan(the_plan, operator, files)


def run_plan(the_plan: Plan, operator: Operator, files: Path) -> None:
    """Runs the Job, mints the admin key, runs the pods and checks them, as the docstring says."""
    image, run_id = operator.image, operator.run_id
    overlay_objects = len(the_plan.objects)
    say(f"rendered: {overlay_objects} objects, the migrate Job and "
        f"{len(the_plan.pods)} pods ({', '.join(p.name for p in the_plan.pods)})")  # fmt: skip

    job_container = the_plan.job.spec["containers"][0]
    started = time.monotonic()
    docker(*docker_run_args(the_plan, the_plan.job, job_container, image, files, run_id)[1:])
    code = docker("wait", the_plan.job.name, timeout=900).stdout.strip()
    if code != "0":
        raise SmokeError(f"the migrate Job's container exited with {code}")
    say(f"migrate Job done in {time.monotonic() - started:.1f}s")
    started = time.monotonic()
    operator.api_key = mint_admin_key(the_plan, image, run_id, files)
    say(f"admin key minted offline in {time.monotonic() - started:.1f}s")

    started = time.monotonic()
    for pod in the_plan.pods:
        container = pod.spec["containers"][0]
        docker(*docker_run_args(the_plan, pod, container, image, files, run_id)[1:])
    for pod in the_plan.pods:
        startup = probe_until(pod, "startupProbe")
        ready = probe_until(pod, "readinessProbe", READY_TIMEOUT)
        probe_until(pod, "livenessProbe", 30)
        say(f"{pod.name}: startup {startup:.1f}s, ready {ready:.1f}s after, live "
            f"(127.0.0.1:{','.join(map(str, pod.ports.values()))})")  # fmt: skip
    say(f"all {len(the_plan.pods)} pods ready {time.monotonic() - started:.1f}s after start")

    ingest = service_address(the_plan, "convtrack-ingest")
    started = time.monotonic()
    sent = run_cli(operator, "sample", "send", "--ingest", ingest,
                   "--property", SAMPLE_PROPERTY, "--visitors", str(SAMPLE_VISITORS))  # fmt: skip
    say(f"sample send: {sent.strip().splitlines()[0]}")
    total = wait_for_report(the_plan, operator, SAMPLE_PROPERTY)
    say(f"report for {SAMPLE_PROPERTY}: {total:g} purchases, "
        f"{time.monotonic() - started:.1f}s after the send began")  # fmt: skip

    kill_and_take_over(the_plan.pods, "identity")
    kill_and_take_over(the_plan.pods, "attribution")
    started = time.monotonic()
    run_cli(operator, "sample", "send", "--ingest", ingest, "--property",
            AFTER_FAILOVER_PROPERTY, "--visitors", str(max(SAMPLE_VISITORS // 4, 50)))  # fmt: skip
    after = wait_for_report(the_plan, operator, AFTER_FAILOVER_PROPERTY)
    say(f"after the failovers, {AFTER_FAILOVER_PROPERTY}: {after:g} purchases reported "
        f"{time.monotonic() - started:.1f}s after the send began")  # fmt: skip
    again = report_total(the_plan, operator, SAMPLE_PROPERTY)
    if again != total:
        raise SmokeError(f"{SAMPLE_PROPERTY} changed after the failovers: {total:g} -> {again:g}")
    for pod in the_plan.pods:
        probe_until(pod, "livenessProbe", 30)
        probe_until(pod, "readinessProbe", READY_TIMEOUT)
    say(f"every remaining pod ({len(the_plan.pods)}) is live and ready")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--overlay", type=Path, default=OVERLAY)
    parser.add_argument("--image", default=f"convtrack:{project_version()}")
    parser.add_argument("--no-build", action="store_true", help="use the image as it is")
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    args = parser.parse_args(argv)
    if shutil.which("docker") is None or docker("info", check=False).returncode != 0:
        say("FAIL: docker cannot reach a running dockerd (see docs/deploy.md, Smoke test)")
        return 1
    begun = time.monotonic()
    run_id = uuid.uuid4().hex[:6]
    try:
        if not args.no_build:
            started = time.monotonic()
            subprocess.run(["make", "image"], cwd=ROOT, check=True)
            say(f"make image: {time.monotonic() - started:.0f}s")
        with fresh_database() as database_url, tempfile.TemporaryDirectory() as files:
            Path(files).chmod(0o755)
            try:
                smoke(args.overlay.resolve(), args.image, run_id, database_url, Path(files))
            except BaseException:
                dump_logs(run_id)
                raise
            finally:
                if not args.keep:
                    remove_containers(run_id)
    except (SmokeError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        say(f"FAIL: {error}")
        return 1
    say(f"ok in {time.monotonic() - begun:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
