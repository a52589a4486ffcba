"""The Kubernetes manifests: every overlay renders, every object is valid Kubernetes, and every
container keeps the deployment rules (probes, resources, securityContext, pinned image)."""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from common.follower import Follower
from common.server import RunningService

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "production")
KUBERNETES_VERSION = "1.35"  # a current release whose schemas kubernetes-validate ships

PORTS = {"ingest": 50051, "identity": 50052, "attribution": 50053, "reporting": 50054}
# The internal ports (client certificates required) of the services other services call.
INTERNAL_PORTS = {"ingest": 50061, "identity": 50062, "attribution": 50063}
HEALTH_PORT = 8081
TLS_DIR = "/etc/convtrack/tls"
HEALTH_NAMES = {
    "ingest": "convtrack.ingest.v1.IngestService",
    "identity": "convtrack.identity.v1.IdentityService",
    "attribution": "convtrack.attribution.v1.AttributionService",
    "reporting": "convtrack.reporting.v1.ReportingService",
}
# The logs each service follows (its `<PEER>_ADDR` settings): the callers its policy must admit.
UPSTREAMS = {
    "ingest": ("identity",),
    "identity": ("ingest",),
    "attribution": ("ingest", "identity"),
    "reporting": ("attribution", "ingest", "identity"),
}
CONSUMERS = ("identity", "attribution", "reporting")  # one replica until leader election
# The client labels that open a service to callers outside convtrack (any namespace).
CLIENT_LABELS = {
    "ingest": "convtrack.io/ingest-client",
    "reporting": "convtrack.io/reporting-client",
}
ADMIN_LABEL = "convtrack.io/admin-client"
# Settings the platform work of issue #10 is adding now (docs/platform.md, sections 4 and 6).
CONTRACT_SETTING = re.compile(r"^(OTEL_[A-Z_]+|CONVTRACK_LOG_FORMAT|[A-Z]+_MAX_READY_LAG)$")
# Settings read with a service's prefix (common.settings.transport_settings, peer_address).
PREFIXED_SETTING = re.compile(
    r"^(INGEST|IDENTITY|ATTRIBUTION|REPORTING)(_TLS_DIR|_INTERNAL_LISTEN|_HEALTH_LISTEN|_INTERNAL_ADDR|_ADDR)$"
)
WORKLOADS = ("Deployment", "StatefulSet", "Job")


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


@cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    """The objects `kubectl kustomize` renders for an overlay (once per test process)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl is missing on CI: the manifests cannot be rendered")
        pytest.skip("kubectl is not installed, so the manifests cannot be rendered")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return tuple(item for item in yaml.safe_load_all(result.stdout) if item)


def objects(overlay: str, kind: str) -> list[dict[str, Any]]:
    return [item for item in rendered(overlay) if item["kind"] == kind]


def named(overlay: str, kind: str, name: str) -> dict[str, Any]:
    (found,) = (item for item in objects(overlay, kind) if item["metadata"]["name"] == name)
    return found


def pod_specs(overlay: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for item in rendered(overlay):
        if item["kind"] in WORKLOADS:
            yield f"{item['kind']}/{item['metadata']['name']}", item["spec"]["template"]["spec"]


def containers(overlay: str) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(where, pod spec, container) for every container and init container of every workload."""
    for where, pod in pod_specs(overlay):
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            yield f"{where}/{container['name']}", pod, container


def service_deployment(overlay: str, service: str) -> dict[str, Any]:
    return named(overlay, "Deployment", f"convtrack-{service}")


def service_container(overlay: str, service: str) -> dict[str, Any]:
    (container,) = service_deployment(overlay, service)["spec"]["template"]["spec"]["containers"]
    return container


def labels_match(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"only matchLabels selectors are checked: {selector}"
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def admitted(
    overlay: str,
    service: str,
    caller_labels: dict[str, str],
    same_namespace: bool,
    port: str = "grpc",
) -> bool:
    """Whether the NetworkPolicies let a pod with `caller_labels` reach the service's port
    named `port` (`grpc`, the main port, or `grpc-internal`)."""
    pod_labels = service_deployment(overlay, service)["spec"]["template"]["metadata"]["labels"]
    policies = [
        p
        for p in objects(overlay, "NetworkPolicy")
        if labels_match(p["spec"]["podSelector"], pod_labels)
    ]
    assert policies, f"no NetworkPolicy selects {service}"
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            ports = [p["port"] for p in rule["ports"]]
            assert ports in (["grpc"], ["grpc-internal"]), policy["metadata"]["name"]
            if ports != [port]:
                continue
            for peer in rule["from"]:
                namespace_ok = same_namespace or "namespaceSelector" in peer
                pods_ok = labels_match(peer.get("podSelector", {}), caller_labels)
                if namespace_ok and pods_ok:
                    return True
    return False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_kubernetes(overlay: str) -> None:
    problems = []
    for item in rendered(overlay):
        try:
            kubernetes_validate.validate(item, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            problems.append(f"{item['kind']}/{item['metadata']['name']} {where}: {error.message}")
    assert problems == []


def test_the_validator_rejects_an_unknown_field() -> None:
    deployment = {**service_deployment("dev", "ingest")}
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_resources_a_pinned_image_and_a_locked_down_context(
    overlay: str,
) -> None:
    for where, pod, container in containers(overlay):
        image = container["image"]
        assert ":" in image and not image.endswith(":latest"), f"{where}: {image}"
        resources = container["resources"]
        for bound in ("requests", "limits"):
            assert set(resources[bound]) >= {"cpu", "memory"}, f"{where}: {bound}"
        context, pod_context = container["securityContext"], pod["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, where
        assert context["readOnlyRootFilesystem"] is True, where
        assert context["capabilities"]["drop"] == ["ALL"], where
        assert context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is True, where
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile"))
        assert seccomp == {"type": "RuntimeDefault"}, where
        assert pod["automountServiceAccountToken"] is False, where
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        assert "emptyDir" in volumes[mounts["/tmp"]], f"{where}: /tmp is not an emptyDir"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_long_running_container_has_all_three_probes(overlay: str) -> None:
    for where, _pod, container in containers(overlay):
        if not where.startswith("Job/"):
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in container, f"{where}: no {probe}"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", PORTS)
def test_services_run_the_project_image_with_grpc_health_probes(overlay: str, service: str) -> None:
    container = service_container(overlay, service)
    port = PORTS[service]
    assert container["image"] == f"convtrack:{project_version()}"
    assert container["args"] == ["serve", service]
    ports = [{"name": "grpc", "containerPort": port, "protocol": "TCP"}]
    if service in INTERNAL_PORTS:
        ports.append(
            {"name": "grpc-internal", "containerPort": INTERNAL_PORTS[service], "protocol": "TCP"}
        )
    ports.append({"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"})
    assert container["ports"] == ports
    # Probes on the plaintext health port: the kubelet's gRPC probes cannot speak TLS.
    health = {"port": HEALTH_PORT, "service": "liveness"}
    assert container["startupProbe"]["grpc"] == health
    assert container["livenessProbe"]["grpc"] == health
    assert container["readinessProbe"]["grpc"] == {
        "port": HEALTH_PORT,
        "service": HEALTH_NAMES[service],
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", PORTS)
def test_services_serve_tls_with_their_own_certificate_from_the_tls_secret(
    overlay: str, service: str
) -> None:
    pod = service_deployment(overlay, service)["spec"]["template"]["spec"]
    container = service_container(overlay, service)
    settings = named(overlay, "ConfigMap", container["envFrom"][0]["configMapRef"]["name"])["data"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env[f"{service.upper()}_TLS_DIR"] == TLS_DIR
    assert "CONVTRACK_ALLOW_INSECURE_REMOTE" not in {**settings, **env}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts[TLS_DIR]["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mounts[TLS_DIR]["name"]]
    assert volume["secret"]["secretName"] == "convtrack-tls"
    # Each pod gets its own key only, never another service's nor the CA's key.
    assert sorted(item["key"] for item in volume["secret"]["items"]) == sorted(
        [f"{service}.crt", f"{service}.key", "ca.crt"]
    )
    assert volume["secret"]["defaultMode"] == 0o440
    assert settings[f"{service.upper()}_HEALTH_LISTEN"] == f"0.0.0.0:{HEALTH_PORT}"
    if service in INTERNAL_PORTS:
        internal = f"0.0.0.0:{INTERNAL_PORTS[service]}"
        assert settings[f"{service.upper()}_INTERNAL_LISTEN"] == internal
    else:
        assert f"{service.upper()}_INTERNAL_LISTEN" not in settings


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", PORTS)
def test_services_read_their_settings_and_the_database_secret(overlay: str, service: str) -> None:
    container = service_container(overlay, service)
    (config_ref,) = container["envFrom"]
    settings = named(overlay, "ConfigMap", config_ref["configMapRef"]["name"])["data"]
    assert settings[f"{service.upper()}_LISTEN"] == f"0.0.0.0:{PORTS[service]}"
    assert settings["CONVTRACK_CREATE_TABLES"] == "n"
    for upstream in UPSTREAMS[service]:
        assert settings[f"{upstream.upper()}_ADDR"] == f"convtrack-{upstream}:{PORTS[upstream]}"
        internal = f"convtrack-{upstream}:{INTERNAL_PORTS[upstream]}"
        assert settings[f"{upstream.upper()}_INTERNAL_ADDR"] == internal
    env = {item["name"]: item for item in container["env"]}
    secret_ref = env["CONVTRACK_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert secret_ref["key"] == "url"
    assert secret_ref["name"].startswith("convtrack-database")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_mention_of_the_version_is_the_project_version(overlay: str) -> None:
    version = project_version()
    for item in rendered(overlay):
        labels = item["metadata"].get("labels", {})
        if labels.get("app.kubernetes.io/part-of") == "convtrack":
            assert labels["app.kubernetes.io/version"] == version, item["metadata"]["name"]
    for service in PORTS:
        env = {e["name"]: e.get("value") for e in service_container(overlay, service)["env"]}
        assert f"service.version={version}," in env["OTEL_RESOURCE_ATTRIBUTES"]


def test_the_production_overlay_commits_no_secret() -> None:
    assert objects("production", "Secret") == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_given_to_a_service_is_one_convtrack_reads(overlay: str) -> None:
    sources = "\n".join(
        path.read_text()
        for folder in ("common", "services")
        for path in (ROOT / folder).rglob("*.py")
    )
    for service in PORTS:
        container = service_container(overlay, service)
        settings = named(overlay, "ConfigMap", container["envFrom"][0]["configMapRef"]["name"])
        expanded = {"POD_NAME", "POD_NAMESPACE"}  # only used inside OTEL_RESOURCE_ATTRIBUTES
        names = {*settings["data"], *(item["name"] for item in container["env"])} - expanded
        unknown = {
            name
            for name in names
            if f'"{name}"' not in sources
            and not CONTRACT_SETTING.match(name)
            and not (
                (prefixed := PREFIXED_SETTING.match(name)) and f'{prefixed.group(2)}"' in sources
            )
        }
        assert unknown == set(), f"{service} is given settings nothing reads"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", PORTS)
def test_services_expose_a_named_grpc_port_to_their_pods(overlay: str, service: str) -> None:
    spec = named(overlay, "Service", f"convtrack-{service}")["spec"]
    pod_labels = service_deployment(overlay, service)["spec"]["template"]["metadata"]["labels"]
    ports = {"grpc": PORTS[service]}
    if service in INTERNAL_PORTS:
        ports["grpc-internal"] = INTERNAL_PORTS[service]
    assert spec["ports"] == [
        {"name": name, "port": port, "targetPort": name, "protocol": "TCP", "appProtocol": "grpc"}
        for name, port in ports.items()
    ]
    assert labels_match({"matchLabels": spec["selector"]}, pod_labels)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", PORTS)
def test_each_service_has_its_own_tokenless_account_and_a_disruption_budget(
    overlay: str, service: str
) -> None:
    pod = service_deployment(overlay, service)["spec"]["template"]
    account = named(overlay, "ServiceAccount", pod["spec"]["serviceAccountName"])
    assert account["metadata"]["name"] == f"convtrack-{service}"
    assert account["automountServiceAccountToken"] is False
    budgets = [
        b
        for b in objects(overlay, "PodDisruptionBudget")
        if labels_match(b["spec"]["selector"], pod["metadata"]["labels"])
    ]
    assert [b["spec"]["maxUnavailable"] for b in budgets] == [1]
    assert pod["spec"]["topologySpreadConstraints"]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", PORTS)
def test_pods_get_longer_to_stop_than_the_drain_takes(overlay: str, service: str) -> None:
    pod = service_deployment(overlay, service)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = inspect.signature(RunningService.stop).parameters["grace"].default
    follower_stop = inspect.signature(Follower.stop).parameters["timeout"].default
    drain = pre_stop + len(UPSTREAMS[service]) * follower_stop + grace + 1
    assert pod["terminationGracePeriodSeconds"] >= 1.5 * drain


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", PORTS)
def test_network_policies_admit_exactly_the_callers_each_service_needs(
    overlay: str, service: str
) -> None:
    for caller in PORTS:
        caller_labels = service_deployment(overlay, caller)["spec"]["template"]["metadata"][
            "labels"
        ]
        # Services call each other only on the internal port (mutual TLS).
        peer = service in UPSTREAMS[caller]
        assert not admitted(overlay, service, caller_labels, same_namespace=True), caller
        assert (
            admitted(overlay, service, caller_labels, same_namespace=True, port="grpc-internal")
            is peer
        ), caller
    migrate = named(overlay, "Job", "convtrack-migrate")["spec"]["template"]["metadata"]["labels"]
    assert not admitted(overlay, service, migrate, same_namespace=True)
    assert admitted(overlay, service, {ADMIN_LABEL: "true"}, same_namespace=True)
    assert not admitted(overlay, service, {ADMIN_LABEL: "true"}, same_namespace=False)
    for client, label in CLIENT_LABELS.items():
        expected = client == service
        assert admitted(overlay, service, {label: "true"}, same_namespace=False) is expected, label


@pytest.mark.parametrize("service", CONSUMERS)
def test_log_consumers_run_one_replica_replaced_not_rolled_in_dev(service: str) -> None:
    spec = service_deployment("dev", service)["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize("service", CONSUMERS)
def test_log_consumers_run_a_leader_and_a_standby_rolled_in_production(service: str) -> None:
    spec = service_deployment("production", service)["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    targets = [
        h["spec"]["scaleTargetRef"]["name"]
        for h in objects("production", "HorizontalPodAutoscaler")
    ]
    assert f"convtrack-{service}" not in targets


def test_production_scales_ingest_on_cpu_from_two_replicas() -> None:
    (autoscaler,) = objects("production", "HorizontalPodAutoscaler")
    spec = autoscaler["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "convtrack-ingest",
    }
    assert spec["minReplicas"] >= 2
    assert [m["resource"]["name"] for m in spec["metrics"]] == ["cpu"]
    assert "replicas" not in service_deployment("production", "ingest")["spec"]


def test_dev_runs_one_replica_of_everything_and_its_own_postgresql() -> None:
    for item in objects("dev", "Deployment") + objects("dev", "StatefulSet"):
        assert item["spec"]["replicas"] == 1, item["metadata"]["name"]
    assert objects("dev", "HorizontalPodAutoscaler") == []
    (database,) = objects("dev", "StatefulSet")
    assert database["metadata"]["name"] == "convtrack-postgres"
    assert objects("production", "StatefulSet") == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_migrate_job_runs_migrate_on_the_database_secret(overlay: str) -> None:
    job = named(overlay, "Job", "convtrack-migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"convtrack:{project_version()}"
    assert container["args"] == ["migrate"]
    env = {item["name"]: item for item in container["env"]}
    assert env["CONVTRACK_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"] == "url"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingest_and_migrate_read_the_vault_secrets_from_a_mounted_secret_none_committed(
    overlay: str,
) -> None:
    (ingest,) = service_deployment(overlay, "ingest")["spec"]["template"]["spec"]["containers"]
    job = named(overlay, "Job", "convtrack-migrate")["spec"]["template"]["spec"]
    for pod_spec, container in (
        (service_deployment(overlay, "ingest")["spec"]["template"]["spec"], ingest),
        (job, job["containers"][0]),
    ):
        env = {item["name"]: item.get("value") for item in container["env"]}
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod_spec["volumes"]}
        mount = mounts["secrets"]
        assert mount["readOnly"] is True
        assert volumes["secrets"]["secret"]["secretName"] == "convtrack-secrets"
        assert volumes["secrets"]["secret"]["defaultMode"] == 0o440
        folder = mount["mountPath"]
        assert env["INGEST_VAULT_SECRET_FILE"] == f"{folder}/ingest-vault-secret"
        assert env["INGEST_VAULT_SECRET_PREVIOUS_FILE"] == f"{folder}/ingest-vault-secret-previous"
        assert "INGEST_VAULT_SECRET" not in env
    # The operator creates the Secret; no overlay renders one.
    secrets = [s["metadata"]["name"] for s in objects(overlay, "Secret")]
    assert not any(name.startswith("convtrack-secrets") for name in secrets)
