"""docker-compose.yml, the Dockerfile and deploy/kubernetes/ checked against the code.

No container engine or cluster runs here, so these files would rot unnoticed: every
tailsight command line in them is parsed by tailsight's own parser, every environment
variable resolved by ``config.load_settings``, every port, path and route compared with
what the code serves, every reference between objects followed, and the Kubernetes
objects validated against the OpenAPI schemas of a pinned Kubernetes version.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from tailsight.app.api import ApiState, QueryApi, build_api
from tailsight.app.up import RECEIVER, roles_of
from tailsight.cli import build_parser
from tailsight.collectors.snmp.switches import load_switches
from tailsight.config import ENV_PREFIX, Settings, load_settings
from tests.conftest import REPO

K8S_DIR = REPO / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.31.0"  # the schemas vendored by kubernetes-validate
IMAGE = "tailsight"
# Variables a tailsight container may carry that are not settings: who reads each.
OTHER_ENV = {
    "NODE_NAME": REPO / "tailsight" / "collectors" / "agent.py",  # the agent's host.name
    "NVIDIA_VISIBLE_DEVICES": None,  # the NVIDIA container runtime
    "NVIDIA_DRIVER_CAPABILITIES": None,
    "PYTHONUNBUFFERED": None,  # Python
    "PATH": None,
}
# Custom resources: no schema in Kubernetes' OpenAPI; checked structurally below.
CUSTOM_KINDS = {"ClickHouseInstallation", "ClickHouseKeeperInstallation"}


# ---- what the code defines ----------------------------------------------------------


def parse_command(argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed by the tailsight CLI, failing the test on an unknown flag or value."""
    parser = build_parser()
    try:
        return parser.parse_args(argv)
    except SystemExit:
        pytest.fail(f"tailsight does not accept: {' '.join(argv)}")


def settings_for(args: argparse.Namespace, env: dict[str, str]) -> Settings:
    """The settings a process with these flags and environment resolves (as ``settings_from``)."""
    for name in env:
        if name.startswith(ENV_PREFIX):
            field = name.removeprefix(ENV_PREFIX).lower()
            assert field in Settings.__dataclass_fields__, f"{name} is no setting of config.py"
        else:
            assert name in OTHER_ENV, f"{name}: neither a setting nor a known variable"
            reader = OTHER_ENV[name]
            assert reader is None or f'"{name}"' in reader.read_text(), f"{name} is not read"
    flags = {k: v for k, v in vars(args).items() if k in Settings.__dataclass_fields__}
    return load_settings(flags, env={k: v for k, v in env.items() if k.startswith(ENV_PREFIX)})


def routes_of(role: str) -> set[str]:
    """Paths served on the API port by a process of ``role`` (the query routes on ``ui``)."""
    paths = {r.path for r in build_api(ApiState(None)).routes}  # type: ignore[arg-type]
    if "ui" in roles_of(role):
        paths |= {r.path for r in QueryApi(None).routes()}  # type: ignore[arg-type]
    return paths


def listens(settings: Settings) -> set[int]:
    """The TCP ports ``tailsight up`` of these settings listens on."""
    ports = {settings.api_port}
    if RECEIVER in roles_of(settings.role):
        ports |= {settings.otlp_http_port, settings.otlp_grpc_port}
    return ports


# ---- docker-compose.yml --------------------------------------------------------------

_DEFAULTED = re.compile(r"\$\{(\w+):?-([^}]*)\}")


def _interpolate(value: Any) -> Any:
    """Compose's ``${VAR:-default}`` with the defaults (the quick start sets nothing)."""
    if isinstance(value, str):
        assert "${" not in _DEFAULTED.sub("", value), f"a variable without default: {value}"
        return _DEFAULTED.sub(lambda m: m.group(2), value)
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return dict(_interpolate(data))


def _tailsight_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: s
        for name, s in compose["services"].items()
        if str(s.get("image", "")).split(":")[0] == IMAGE
    }


def test_compose_clickhouse_is_pinned_with_volume_healthcheck_and_user(
    compose: dict[str, Any],
) -> None:
    ch = compose["services"]["clickhouse"]
    assert re.fullmatch(r"clickhouse/clickhouse-server:\d+\.\d+\.\d+\.\d+", ch["image"])
    assert any(v.endswith(":/var/lib/clickhouse") for v in ch["volumes"])
    assert ch["volumes"][0].split(":")[0] in compose["volumes"]
    assert "SELECT 1" in " ".join(ch["healthcheck"]["test"])
    assert ch["environment"]["CLICKHOUSE_USER"] != "default"
    assert ch["environment"]["CLICKHOUSE_PASSWORD"]


def test_compose_tailsight_services_use_real_flags_settings_and_ports(
    compose: dict[str, Any],
) -> None:
    services = _tailsight_services(compose)
    assert set(services) == {"tailsight", "agent", "switch-poller"}
    built = compose["services"]["tailsight"]
    assert built["build"] == "." and (REPO / "Dockerfile").is_file()
    ch = compose["services"]["clickhouse"]["environment"]
    for name, service in services.items():
        args = parse_command(service["command"])
        settings = settings_for(args, service.get("environment") or {})
        if args.command == "up":
            store = urlsplit(settings.store or "")
            assert store.scheme == "http" and store.hostname == "clickhouse", name
            assert store.port == 8123 and store.path == f"/{ch['CLICKHOUSE_DB']}", name
            assert (store.username, store.password) == (
                ch["CLICKHOUSE_USER"],
                ch["CLICKHOUSE_PASSWORD"],
            )
            published = {int(p.split(":")[1]) for p in service["ports"]}
            assert published == listens(settings), name
            assert settings.host == "0.0.0.0"
            assert settings.spool_path.is_relative_to("/var/lib/tailsight"), name
            assert service["depends_on"]["clickhouse"]["condition"] == "service_healthy"
        else:
            endpoint = urlsplit(getattr(args, "endpoint", None) or settings.agent_endpoint or "")
            target = "127.0.0.1" if service.get("network_mode") == "host" else "tailsight"
            assert endpoint.hostname == target, name
            up_ports = {int(p.split(":")[0]) for p in built["ports"]}
            assert endpoint.port in up_ports and endpoint.port == settings.otlp_http_port
            assert service["healthcheck"] == {"disable": True}  # they serve no API
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name}: {source} is not in the repository"
            elif not source.startswith("/"):
                assert source in compose["volumes"], name
    agent = parse_command(services["agent"]["command"])
    mounts = dict(v.split(":")[1::-1] for v in services["agent"]["volumes"])
    assert mounts[agent.sysfs_root] == "/sys" and mounts[agent.procfs_root] == "/proc"
    assert all(v.endswith(":ro") for v in services["agent"]["volumes"])
    poller = parse_command(services["switch-poller"]["command"])
    (switches,) = [v for v in services["switch-poller"]["volumes"] if poller.config in v]
    load_switches(REPO / switches.split(":")[0])


# ---- Dockerfile ----------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in (x.strip() for x in text.splitlines())
        if line and not line.startswith("#")
    ]


def test_dockerfile_builds_the_encoder_and_runs_as_non_root() -> None:
    steps = _dockerfile()
    froms = [arg for op, arg in steps if op == "FROM"]
    assert len(froms) >= 2, "multi-stage"
    for image in froms:
        assert re.match(r"python:\d+\.\d+\.\d+-slim-\w+", image), f"unpinned base {image}"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    (ext,) = pyproject["tool"]["setuptools"]["ext-modules"]
    assert all((REPO / src).is_file() for src in ext["sources"])
    runs = " ".join(arg for op, arg in steps if op == "RUN")
    assert f"import {ext['name']}" in runs, "the build must fail without the encoder"
    for op, arg in steps:
        if op == "COPY" and not arg.startswith("--from"):
            for source in arg.split()[:-1]:
                assert (REPO / source).exists(), source
    user = [arg for op, arg in steps if op == "USER"][-1]
    assert user.split(":")[0] not in ("0", "root")
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(arg for op, arg in steps if op == "ENV")))
    (entrypoint,) = [arg for op, arg in steps if op == "ENTRYPOINT"]
    (cmd,) = [arg for op, arg in steps if op == "CMD"]
    assert yaml.safe_load(entrypoint) == list(pyproject["project"]["scripts"])
    settings = settings_for(parse_command(yaml.safe_load(cmd)), env)
    (expose,) = [arg for op, arg in steps if op == "EXPOSE"]
    assert {int(p) for p in expose.split()} == listens(settings)
    (health,) = [arg for op, arg in steps if op == "HEALTHCHECK"]
    url = urlsplit(re.search(r"http://[^']+", health).group(0))  # type: ignore[union-attr]
    assert url.port == settings.api_port and url.path in routes_of("receiver")
    assert url.path in routes_of("analyzer") and url.path in routes_of("ui")
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "**/*.so" in ignored, "the in-place build's encoder must not be copied in"


# ---- deploy/kubernetes ---------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    files = kustomization["resources"]
    on_disk = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(files) == on_disk, "every manifest is listed in kustomization.yaml"
    docs = [d for f in files for d in yaml.safe_load_all((K8S_DIR / f).read_text()) if d]
    assert {img["name"] for img in kustomization["images"]} == {IMAGE}
    return docs


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


def _env(container: dict[str, Any], secret: dict[str, str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for var in container.get("env", []):
        ref = var.get("valueFrom", {})
        if "secretKeyRef" in ref:
            key = ref["secretKeyRef"]["key"]
            assert key in secret, f"{var['name']}: the Secret has no {key}"
            env[var["name"]] = secret[key]
        elif "fieldRef" in ref:
            env[var["name"]] = "node-1"
        else:
            env[var["name"]] = str(var["value"])
    return env


@pytest.mark.parametrize(
    "name", ["namespace", "secret", "migrate-job", "receiver", "analyzer", "ui", "agent",
             "switch-poller"],
)  # fmt: skip
def test_manifests_validate_against_kubernetes_schemas(name: str) -> None:
    for doc in yaml.safe_load_all((K8S_DIR / f"{name}.yaml").read_text()):
        assert doc["kind"] not in CUSTOM_KINDS
        doc.setdefault("metadata", {}).setdefault("namespace", "tailsight")
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_tailsight_containers_use_real_flags_settings_ports_and_routes(
    manifests: list[dict[str, Any]],
) -> None:
    (secret,) = _by_kind(manifests, "Secret").values()
    values = secret["stringData"]
    workloads = [d for d in manifests if d["kind"] in ("Deployment", "DaemonSet", "Job")]
    roles: dict[str, str] = {}
    for doc in workloads:
        pod = _pod(doc)
        names = {v["name"] for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            assert container["image"] == IMAGE
            assert {m["name"] for m in container.get("volumeMounts", [])} <= names
            if "command" in container:  # the lldpd sidecar runs the image's lldpd
                continue
            args = parse_command(container["args"])
            settings = settings_for(args, _env(container, values))
            if args.command not in ("up", "migrate"):
                continue
            assert settings.store and settings.cluster == "tailsight"
            if args.command != "up":
                continue
            roles[doc["metadata"]["name"]] = settings.role
            ports = {p["containerPort"] for p in container["ports"]}
            assert ports == listens(settings), doc["metadata"]["name"]
            named = {p["name"]: p["containerPort"] for p in container["ports"]}
            for probe in ("readinessProbe", "livenessProbe"):
                get = container[probe]["httpGet"]
                assert named[get["port"]] == settings.api_port
                assert get["path"] in routes_of(settings.role)
            assert settings.host == "0.0.0.0"
            assert pod["securityContext"]["runAsNonRoot"]
    assert sorted(roles.values()) == ["analyzer", "receiver", "ui"]
    assert _by_kind(manifests, "Deployment")["tailsight-analyzer"]["spec"]["replicas"] == 1


def test_services_hpa_and_references_point_at_real_objects(
    manifests: list[dict[str, Any]],
) -> None:
    deployments = _by_kind(manifests, "Deployment")
    for service in _by_kind(manifests, "Service").values():
        selector = service["spec"]["selector"]
        (target,) = [
            d for d in deployments.values()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]  # fmt: skip
        named = {
            p["name"]: p["containerPort"]
            for c in _pod(target)["containers"]
            for p in c.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert named[port["targetPort"]] == port["port"], service["metadata"]["name"]
    receiver = _by_kind(manifests, "Service")["tailsight-receiver"]
    assert {p["port"] for p in receiver["spec"]["ports"]} == {4317, 4318}
    (hpa,) = _by_kind(manifests, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    configmaps = _by_kind(manifests, "ConfigMap")
    for doc in [*deployments.values(), *_by_kind(manifests, "DaemonSet").values()]:
        for volume in _pod(doc).get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps
    for text in configmaps["tailsight-slos"]["data"].values():
        assert yaml.safe_load(text)["apiVersion"] == "openslo/v1"


def test_agent_daemonset_sees_the_host_read_only(
    manifests: list[dict[str, Any]], tmp_path: Path
) -> None:
    (ds,) = _by_kind(manifests, "DaemonSet").values()
    pod = _pod(ds)
    assert pod["hostNetwork"] and pod["hostPID"] and pod["runtimeClassName"] == "nvidia"
    agent = next(c for c in pod["containers"] if c["name"] == "agent")
    args = parse_command(agent["args"])
    host_paths = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    mounts = {m["mountPath"]: m for m in agent["volumeMounts"]}
    for flag, host in ((args.sysfs_root, "/sys"), (args.procfs_root, "/proc")):
        assert host_paths[mounts[flag]["name"]] == host and mounts[flag]["readOnly"]
    assert host_paths[mounts[args.pods_dir]["name"]] == "/var/log/pods"
    env = {v["name"]: v for v in agent["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    endpoint = urlsplit(env["TAILSIGHT_AGENT_ENDPOINT"]["value"])
    service = _by_kind(manifests, "Service")[str(endpoint.hostname).split(".")[0]]
    assert endpoint.port in {p["port"] for p in service["spec"]["ports"]}
    limits = agent["resources"]["limits"]
    assert limits["cpu"] == "100m" and limits["memory"] == "128Mi"  # docs/sizing.md
    (cm,) = [c for c in _by_kind(manifests, "ConfigMap").values() if "switches.yaml" in c["data"]]
    switches = tmp_path / "switches.yaml"
    switches.write_text(cm["data"]["switches.yaml"])
    load_switches(switches)


def test_clickhouse_installation_matches_the_store_url(manifests: list[dict[str, Any]]) -> None:
    (chi,) = _by_kind(manifests, "ClickHouseInstallation").values()
    (chk,) = _by_kind(manifests, "ClickHouseKeeperInstallation").values()
    assert chi["apiVersion"] == "clickhouse.altinity.com/v1"
    (cluster,) = chi["spec"]["configuration"]["clusters"]
    assert cluster["name"] == "tailsight"  # TAILSIGHT_CLUSTER of every role
    (secret,) = _by_kind(manifests, "Secret").values()
    store = urlsplit(secret["stringData"]["store-url"])
    assert store.hostname == f"clickhouse-{chi['metadata']['name']}"  # the operator's Service
    assert store.username in {u.split("/")[0] for u in chi["spec"]["configuration"]["users"]}
    (keeper,) = chi["spec"]["configuration"]["zookeeper"]["nodes"]
    assert keeper["host"] == f"keeper-{chk['metadata']['name']}"
    for template in chi["spec"]["templates"]["podTemplates"]:
        for container in template["spec"]["containers"]:
            assert re.fullmatch(
                r"clickhouse/clickhouse-server:\d+\.\d+\.\d+\.\d+", container["image"]
            )
