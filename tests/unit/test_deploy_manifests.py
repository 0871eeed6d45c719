"""Structural checks of deploy/: image, Kustomize overlays and compose, without a cluster or network.

Each overlay is rendered by the small Kustomize resolver below (resources, components, namespace,
images, JSON 6902 and strategic-merge patches; anything else in a kustomization fails the test so
the resolver never silently ignores a feature). When `kubectl` or `kustomize` is on PATH, a test
also checks that the resolver renders exactly what the real Kustomize renders.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.scheduled import parse

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
BASE = K8S / "base"
OVERLAYS = ("dev", "prod")
COMPOSE = DEPLOY / "compose" / "compose.yaml"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
DOCKERIGNORE = DEPLOY / "docker" / "Dockerfile.dockerignore"

SERVICES = ("enrollment", "settlement", "ltc", "supervision", "gateway")
WORKER_SERVICES = ("enrollment", "settlement", "ltc", "supervision")
BACKENDS = WORKER_SERVICES
NAMESPACE = "yibao"
KAFKA_CLUSTER = "yibao-kafka"
EVENT_TOPICS = ("person.registered", "enrollment.activated", "claim.settled", "audit.flagged")
ALL_TOPICS = frozenset([*EVENT_TOPICS, *(f"{t}.dlq" for t in EVENT_TOPICS)])
TOPIC_WRITES = {
    "enrollment": ("person.registered", "enrollment.activated"),
    "settlement": ("claim.settled",),
    "ltc": (),
    "supervision": ("audit.flagged",),
}
TOPIC_READS = {
    "enrollment": (),
    "settlement": ("person.registered", "enrollment.activated"),
    "ltc": ("person.registered", "enrollment.activated"),
    "supervision": ("claim.settled",),
}
# What each overlay must set.
EXPECTED = {
    "dev": {
        "env": "development",
        "api_min": 1,
        "workers": 1,
        "pg_instances": 1,
        "kafka_nodes": 1,
        "partitions": 3,
        "replication": 1,
        "min_isr": 1,
    },
    "prod": {
        "env": "production",
        "api_min": 3,
        "workers": 3,
        "pg_instances": 3,
        "kafka_nodes": 3,
        "partitions": 6,
        "replication": 3,
        "min_isr": 2,
    },
}


def prefix(svc: str) -> str:
    return f"{svc.upper()}_"


def api_command(svc: str) -> list[str]:
    return ["uvicorn", f"services.{svc}.main:app", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]  # noqa: S104


def worker_command(svc: str) -> list[str]:
    return ["python", "-m", f"services.{svc}.worker"]


def migrate_command(svc: str) -> list[str]:
    return ["alembic", "-c", f"services/{svc}/alembic.ini", "upgrade", "head"]


# --------------------------------------------------------------------------------------------
# A small Kustomize resolver
# --------------------------------------------------------------------------------------------


class KustomizeError(AssertionError):
    """The kustomization cannot be rendered (or uses something this resolver does not know)."""


KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = frozenset({"apiVersion", "kind", "resources", "components", "namespace", "images", "patches"})
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "IngressClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)


def load_docs(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of a file; each must be a Kubernetes object."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except yaml.YAMLError as exc:
        raise KustomizeError(f"{path}: invalid YAML: {exc}") from exc
    for doc in docs:
        if not isinstance(doc, dict) or not {"apiVersion", "kind", "metadata"} <= doc.keys():
            raise KustomizeError(f"{path}: a document is not a Kubernetes object: {str(doc)[:80]}")
        if not doc["metadata"].get("name"):
            raise KustomizeError(f"{path}: a {doc['kind']} has no metadata.name")
    return docs


def read_kustomization(directory: Path) -> tuple[Path, dict[str, Any]]:
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if path.is_file():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            unknown = set(data) - SUPPORTED_FIELDS
            if unknown:
                raise KustomizeError(f"{path}: fields this resolver does not implement: {sorted(unknown)}")
            return path, data
    raise KustomizeError(f"{directory}: no kustomization.yaml")


def build(directory: Path, inherited: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Render a Kustomization; with `inherited`, apply `directory` as a Component to those objects."""
    kfile, k = read_kustomization(directory)
    kind = k.get("kind", "Kustomization")
    if (kind == "Component") != (inherited is not None):
        raise KustomizeError(f"{kfile}: a {kind} used as a {'component' if inherited is not None else 'resource'}")
    objects = list(inherited or [])
    for entry in k.get("resources") or []:
        target = (directory / entry).resolve()
        if target.is_dir():
            objects.extend(build(target))
        elif target.is_file():
            objects.extend(load_docs(target))
        else:
            raise KustomizeError(f"{kfile}: resource {entry!r} does not exist")
    for entry in k.get("components") or []:
        target = (directory / entry).resolve()
        if not target.is_dir():
            raise KustomizeError(f"{kfile}: component {entry!r} is not a directory")
        objects = build(target, objects)
    # Kustomize's built-in order: patches, namespace, ..., images.
    for spec in k.get("patches") or []:
        apply_patch(directory, kfile, spec, objects)
    if k.get("namespace"):
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = k["namespace"]
    for image in k.get("images") or []:
        for obj in objects:
            set_image(obj, image)
    seen: set[tuple[str, str, str]] = set()
    for obj in objects:
        key = object_id(obj)
        if key in seen:
            raise KustomizeError(f"{kfile}: {key} is defined twice")
        seen.add(key)
    return objects


def object_id(obj: dict[str, Any]) -> tuple[str, str, str]:
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def apply_patch(directory: Path, kfile: Path, spec: dict[str, Any], objects: list[dict[str, Any]]) -> None:
    if "path" in spec:
        path = directory / spec["path"]
        if not path.is_file():
            raise KustomizeError(f"{kfile}: patch {spec['path']!r} does not exist")
        text = path.read_text(encoding="utf-8")
    elif "patch" in spec:
        text = spec["patch"]
    else:
        raise KustomizeError(f"{kfile}: a patch with neither path nor patch")
    body = yaml.safe_load(text)
    target = spec.get("target")
    if isinstance(body, list):
        if not target:
            raise KustomizeError(f"{kfile}: a JSON 6902 patch needs a target")
        matched = [o for o in objects if matches_target(o, target)]
        for obj in matched:
            json6902(obj, body, kfile)
    elif isinstance(body, dict):
        if not target:
            target = {"kind": body["kind"], "name": re.escape(body["metadata"]["name"])}
        matched = [o for o in objects if matches_target(o, target)]
        for obj in matched:
            merged = strategic_merge(obj, body)
            merged["metadata"]["name"] = obj["metadata"]["name"]  # a targeted patch's own name is ignored
            obj.clear()
            obj.update(merged)
    else:
        raise KustomizeError(f"{kfile}: a patch is neither a list of operations nor an object")
    if not matched:
        raise KustomizeError(f"{kfile}: patch target {target} matches nothing")


def matches_target(obj: dict[str, Any], target: dict[str, Any]) -> bool:
    group, _, version = obj["apiVersion"].rpartition("/")
    meta = obj["metadata"]
    checks = {
        "group": group,
        "version": version,
        "kind": obj["kind"],
        "name": meta["name"],
        "namespace": meta.get("namespace", ""),
    }
    for key, value in target.items():
        if key in checks:
            if not re.fullmatch(str(value), checks[key]):
                return False
        elif key == "labelSelector":
            if not selector_string_matches(value, meta.get("labels") or {}):
                return False
        elif key == "annotationSelector":
            if not selector_string_matches(value, meta.get("annotations") or {}):
                return False
        else:
            raise KustomizeError(f"unknown patch target field {key!r}")
    return True


def selector_string_matches(selector: str, labels: dict[str, str]) -> bool:
    for term in (t.strip() for t in selector.split(",") if t.strip()):
        if "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif re.fullmatch(r"[\w./-]+", term):
            if term not in labels:
                return False
        else:
            raise KustomizeError(f"label selector this resolver does not implement: {term!r}")
    return True


def pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise KustomizeError(f"JSON pointer must start with '/': {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json6902(obj: dict[str, Any], ops: list[dict[str, Any]], where: Path) -> None:
    for op in ops:
        parts = pointer(op["path"])
        parent: Any = obj
        for part in parts[:-1]:
            try:
                parent = parent[int(part)] if isinstance(parent, list) else parent[part]
            except (KeyError, IndexError, ValueError) as exc:
                raise KustomizeError(f"{where}: {op['op']} {op['path']}: no such path in {object_id(obj)}") from exc
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(index, copy.deepcopy(op["value"]))
            elif kind in ("replace", "remove", "test") and not 0 <= index < len(parent):
                raise KustomizeError(f"{where}: {kind} {op['path']}: index out of range in {object_id(obj)}")
            elif kind == "replace":
                parent[index] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[index]
            elif kind == "test":
                if parent[index] != op["value"]:
                    raise KustomizeError(f"{where}: test {op['path']} failed in {object_id(obj)}")
            else:
                raise KustomizeError(f"{where}: JSON patch op this resolver does not implement: {kind}")
        elif isinstance(parent, dict):
            if kind == "add":
                parent[last] = copy.deepcopy(op["value"])
            elif kind in ("replace", "remove", "test") and last not in parent:
                raise KustomizeError(f"{where}: {kind} {op['path']}: no such path in {object_id(obj)}")
            elif kind == "replace":
                parent[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[last]
            elif kind == "test":
                if parent[last] != op["value"]:
                    raise KustomizeError(f"{where}: test {op['path']} failed in {object_id(obj)}")
            else:
                raise KustomizeError(f"{where}: JSON patch op this resolver does not implement: {kind}")
        else:
            raise KustomizeError(f"{where}: {op['path']} goes through a scalar in {object_id(obj)}")


def strategic_merge(base: Any, patch: Any) -> Any:
    """Maps merge key by key; lists of named objects (containers, env, ports...) merge by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        if any(k.startswith("$") for k in patch):
            raise KustomizeError(f"strategic-merge directive this resolver does not implement: {list(patch)}")
        out = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = strategic_merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in base + patch)
    ):
        out_list = copy.deepcopy(base)
        index = {item["name"]: n for n, item in enumerate(out_list)}
        for item in patch:
            if item["name"] in index:
                out_list[index[item["name"]]] = strategic_merge(out_list[index[item["name"]]], item)
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(patch)


def split_image(image: str) -> tuple[str, str | None, str | None]:
    name, _, digest = image.partition("@")
    tag = None
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    return name, tag, digest or None


def set_image(node: Any, spec: dict[str, Any]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                for container in value:
                    name, tag, digest = split_image(container.get("image", ""))
                    if name != spec["name"]:
                        continue
                    name = spec.get("newName", name)
                    if "digest" in spec:
                        container["image"] = f"{name}@{spec['digest']}"
                    elif "newTag" in spec:
                        container["image"] = f"{name}:{spec['newTag']}"
                    else:
                        container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
            else:
                set_image(value, spec)
    elif isinstance(node, list):
        for item in node:
            set_image(item, spec)


_RENDERED: dict[str, list[dict[str, Any]]] = {}


def rendered(overlay: str) -> list[dict[str, Any]]:
    if overlay not in _RENDERED:
        _RENDERED[overlay] = build(K8S / "overlays" / overlay)
    return copy.deepcopy(_RENDERED[overlay])


# --------------------------------------------------------------------------------------------
# Helpers over rendered objects
# --------------------------------------------------------------------------------------------


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def by_name(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in of_kind(objects, kind)}


def pod_template(obj: dict[str, Any]) -> dict[str, Any]:
    template: dict[str, Any] = obj["spec"]["template"]
    return template


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    return pod_template(obj)["metadata"].get("labels") or {}


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = pod_template(obj)["spec"]["containers"]
    return found


def component(obj: dict[str, Any]) -> str | None:
    return pod_labels(obj).get("app.kubernetes.io/component")


def deployments(objects: list[dict[str, Any]], comp: str) -> dict[str, dict[str, Any]]:
    """Deployments of one component (`api` or `worker`), keyed by their service."""
    out: dict[str, dict[str, Any]] = {}
    for dep in of_kind(objects, "Deployment"):
        if component(dep) == comp:
            svc = pod_labels(dep)["app.kubernetes.io/name"]
            assert svc not in out, f"two {comp} Deployments for {svc}"
            out[svc] = dep
    return out


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes LabelSelector (matchLabels + matchExpressions) against labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def container_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise AssertionError(f"container {container['name']} has no port named {port!r}")


def env_map(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env") or []}


def secret_ref(env: dict[str, Any]) -> tuple[str, str] | None:
    ref = (env.get("valueFrom") or {}).get("secretKeyRef")
    return (ref["name"], ref["key"]) if ref else None


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def objects(overlay: str) -> list[dict[str, Any]]:
    return rendered(overlay)


# --------------------------------------------------------------------------------------------
# The resolver itself
# --------------------------------------------------------------------------------------------


def test_resolver_applies_json6902_strategic_merge_and_images() -> None:
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x", "labels": {"app.kubernetes.io/component": "worker"}},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "yibao:latest"}]}}},
    }
    assert matches_target(obj, {"kind": "Deployment", "labelSelector": "app.kubernetes.io/component=worker"})
    assert not matches_target(obj, {"kind": "Deployment", "labelSelector": "app.kubernetes.io/component=api"})
    json6902(obj, [{"op": "replace", "path": "/spec/replicas", "value": 3}], Path("t"))
    assert obj["spec"]["replicas"] == 3
    with pytest.raises(KustomizeError):
        json6902(obj, [{"op": "replace", "path": "/spec/nope", "value": 1}], Path("t"))
    merged = strategic_merge(
        obj, {"spec": {"template": {"spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": "1"}]}]}}}}
    )
    assert merged["spec"]["template"]["spec"]["containers"] == [
        {"name": "c", "image": "yibao:latest", "env": [{"name": "A", "value": "1"}]}
    ]
    set_image(merged, {"name": "yibao", "newName": "reg.example/yibao", "newTag": "1.2.3"})
    assert merged["spec"]["template"]["spec"]["containers"][0]["image"] == "reg.example/yibao:1.2.3"


def test_resolver_fails_on_a_missing_resource(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    with pytest.raises(KustomizeError, match="does not exist"):
        build(tmp_path)


KUSTOMIZE_CLI = (
    ["kustomize", "build"]
    if shutil.which("kustomize")
    else ["kubectl", "kustomize"]
    if shutil.which("kubectl")
    else None
)


@pytest.mark.skipif(KUSTOMIZE_CLI is None, reason="neither kustomize nor kubectl on PATH")
def test_resolver_agrees_with_real_kustomize(overlay: str) -> None:
    assert KUSTOMIZE_CLI is not None
    result = subprocess.run(
        [*KUSTOMIZE_CLI, str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    theirs = {object_id(o): o for o in yaml.safe_load_all(result.stdout) if o}
    ours = {object_id(o): o for o in rendered(overlay)}
    assert sorted(theirs) == sorted(ours)
    for key, obj in ours.items():
        assert obj == theirs[key], f"{overlay}: {key} differs from kustomize's rendering"


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def deploy_yaml_files() -> Iterator[Path]:
    for path in sorted(DEPLOY.rglob("*")):
        if path.suffix in (".yaml", ".yml") and "local" not in path.relative_to(DEPLOY).parts[:1]:
            yield path


def test_every_yaml_file_under_deploy_parses() -> None:
    files = list(deploy_yaml_files())
    assert len(files) >= 15, files  # base (9 + kustomization), component (2), overlays (2), compose
    for path in files:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        assert docs, f"{path} is empty"
        for doc in docs:
            assert doc is None or isinstance(doc, dict), f"{path}: a document is not a mapping"


def test_base_has_a_file_per_service_with_its_workloads() -> None:
    for svc in SERVICES:
        path = BASE / f"{svc}.yaml"
        assert path.is_file(), f"missing {path}"
        kinds = [(d["kind"], d["metadata"]["name"]) for d in load_docs(path)]
        assert ("Deployment", svc) in kinds
        assert ("Service", svc) in kinds
        assert ("HorizontalPodAutoscaler", svc) in kinds
        assert ("PodDisruptionBudget", svc) in kinds
        assert ("Job", f"{svc}-migrate") in kinds
        assert (("Deployment", f"{svc}-worker") in kinds) == (svc in WORKER_SERVICES)


def test_every_overlay_renders_with_all_references_present(objects: list[dict[str, Any]]) -> None:
    counts: dict[str, int] = {}
    for obj in objects:
        counts[obj["kind"]] = counts.get(obj["kind"], 0) + 1
    assert counts.get("Namespace") == 1
    assert counts.get("Deployment") == len(SERVICES) + len(WORKER_SERVICES)
    assert counts.get("Service") == len(SERVICES)
    assert counts.get("HorizontalPodAutoscaler") == len(SERVICES)
    assert counts.get("Job") == len(SERVICES)
    assert counts.get("Cluster") == len(SERVICES)
    assert counts.get("Kafka") == 1
    assert counts.get("KafkaNodePool") == 1
    assert counts.get("KafkaTopic") == len(ALL_TOPICS)
    assert counts.get("KafkaUser") == len(WORKER_SERVICES)
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == NAMESPACE, f"{object_id(obj)} is not in {NAMESPACE}"


# --------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------


def test_every_deployment_has_probes_resources_and_runs_locked_down(objects: list[dict[str, Any]]) -> None:
    deps = of_kind(objects, "Deployment")
    assert len(deps) == 9
    for dep in deps:
        name = dep["metadata"]["name"]
        assert selector_matches(dep["spec"]["selector"], pod_labels(dep)), f"{name}: selector misses its own pods"
        pod = pod_template(dep)["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        for c in pod["containers"]:
            where = f"{name}/{c['name']}"
            assert c.get("livenessProbe"), f"{where}: no liveness probe"
            assert c.get("readinessProbe"), f"{where}: no readiness probe"
            resources = c.get("resources") or {}
            for part in ("requests", "limits"):
                assert (resources.get(part) or {}).get("memory"), f"{where}: no memory {part}"
            assert (resources.get("requests") or {}).get("cpu"), f"{where}: no cpu request"
            sc = c.get("securityContext") or {}
            run_as_non_root = sc.get("runAsNonRoot", (pod.get("securityContext") or {}).get("runAsNonRoot"))
            assert run_as_non_root is True, f"{where}: runAsNonRoot is not set"
            assert sc.get("readOnlyRootFilesystem") is True, f"{where}: root filesystem is writable"
            assert sc.get("allowPrivilegeEscalation") is False, f"{where}: privilege escalation allowed"
            assert "ALL" in ((sc.get("capabilities") or {}).get("drop") or []), f"{where}: capabilities not dropped"
            tmp = [m for m in c.get("volumeMounts") or [] if m["mountPath"] == "/tmp"]
            assert tmp, f"{where}: no writable /tmp"
            assert "emptyDir" in volumes[tmp[0]["name"]], f"{where}: /tmp is not an emptyDir"


def test_api_deployments_run_uvicorn_with_http_probes_and_metrics(objects: list[dict[str, Any]]) -> None:
    apis = deployments(objects, "api")
    assert sorted(apis) == sorted(SERVICES)
    for svc, dep in apis.items():
        (c,) = containers(dep)
        command = [*(c.get("command") or []), *(c.get("args") or [])]
        assert command[: len(api_command(svc))] == api_command(svc), f"{svc}: {command}"
        assert dep["metadata"]["name"] == svc
        ready = "/readyz?scope=local" if svc == "gateway" else "/readyz"
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", ready)):
            get = c[probe].get("httpGet")
            assert get, f"{svc}: {probe} is not an HTTP probe"
            assert get["path"] == path
            assert container_port(c, get["port"]) == 8000
        annotations = pod_template(dep)["metadata"].get("annotations") or {}
        assert annotations.get("prometheus.io/scrape") == "true"
        assert annotations.get("prometheus.io/port") == "8000"
        assert annotations.get("prometheus.io/path", "/metrics") == "/metrics"


def test_worker_deployments_run_the_worker_with_tcp_probes(objects: list[dict[str, Any]]) -> None:
    workers = deployments(objects, "worker")
    assert sorted(workers) == sorted(WORKER_SERVICES)
    for svc, dep in workers.items():
        (c,) = containers(dep)
        command = [*(c.get("command") or []), *(c.get("args") or [])]
        assert command == worker_command(svc), f"{svc}: {command}"
        for probe in ("livenessProbe", "readinessProbe"):
            tcp = c[probe].get("tcpSocket")
            assert tcp, f"{svc} worker: {probe} is not a TCP probe"
            assert container_port(c, tcp["port"]) == 9100
        annotations = pod_template(dep)["metadata"].get("annotations") or {}
        assert annotations.get("prometheus.io/scrape") == "true"
        assert annotations.get("prometheus.io/port") == "9100"


def test_migration_jobs_run_alembic_for_each_service(objects: list[dict[str, Any]]) -> None:
    jobs = by_name(objects, "Job")
    assert sorted(jobs) == sorted(f"{svc}-migrate" for svc in SERVICES)
    for svc in SERVICES:
        job = jobs[f"{svc}-migrate"]
        (c,) = containers(job)
        assert [*(c.get("command") or []), *(c.get("args") or [])] == migrate_command(svc)
        assert pod_template(job)["spec"]["restartPolicy"] in ("Never", "OnFailure")
        assert pod_labels(job)["app.kubernetes.io/name"] == svc


def test_every_container_gets_its_own_database_the_jwt_secret_and_the_common_config(
    objects: list[dict[str, Any]],
) -> None:
    workloads = [o for o in objects if o["kind"] in ("Deployment", "Job")]
    assert len(workloads) == 14
    for obj in workloads:
        svc = pod_labels(obj)["app.kubernetes.io/name"]
        assert svc in SERVICES
        for c in containers(obj):
            env = env_map(c)
            where = f"{obj['metadata']['name']}/{c['name']}"
            assert secret_ref(env[f"{prefix(svc)}DATABASE_URL"]) == (f"{svc}-db-app", "uri"), where
            assert secret_ref(env["YIBAO_JWT_SECRET"]) == ("yibao-jwt", "secret"), where
            assert {"configMapRef": {"name": "yibao-config"}} in (c.get("envFrom") or []), where
            # No service is pointed at another service's database.
            for other in SERVICES:
                if other != svc:
                    assert f"{prefix(other)}DATABASE_URL" not in env, where


def test_gateway_reaches_the_four_services_through_their_services(objects: list[dict[str, Any]]) -> None:
    (c,) = containers(deployments(objects, "api")["gateway"])
    env = env_map(c)
    services = by_name(objects, "Service")
    for svc in BACKENDS:
        assert env[f"GATEWAY_{svc.upper()}_URL"]["value"] == f"http://{svc}:8000"
        assert any(p["port"] == 8000 for p in services[svc]["spec"]["ports"])


def test_settlement_asks_supervisions_in_stage_check_at_its_service(objects: list[dict[str, Any]]) -> None:
    # 事中审核: without the URL the API would ask 127.0.0.1 and every claim would settle unchecked.
    (c,) = containers(deployments(objects, "api")["settlement"])
    assert env_map(c)["SETTLEMENT_SUPERVISION_URL"]["value"] == "http://supervision:8000"
    assert any(p["port"] == 8000 for p in by_name(objects, "Service")["supervision"]["spec"]["ports"])


def test_scheduled_work_runs_as_cronjobs_calling_the_services_directly(objects: list[dict[str, Any]]) -> None:
    cronjobs = {c["metadata"]["name"]: c for c in of_kind(objects, "CronJob")}
    assert set(cronjobs) == {"enrollment-coverage-snapshot", "supervision-peer-baseline", "settlement-clearing"}
    for cronjob in cronjobs.values():
        spec = cronjob["spec"]
        assert spec["timeZone"] == "Asia/Shanghai"
        assert spec["concurrencyPolicy"] == "Forbid"
        template = spec["jobTemplate"]["spec"]["template"]
        labels = template["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "scheduler"
        (c,) = template["spec"]["containers"]
        assert c["command"][:3] == ["python", "-m", "shared.scheduled"]
        args = parse(c["command"][3:])  # the command line the module itself accepts
        assert args.service == labels["app.kubernetes.io/name"]
        assert args.path.startswith(f"/api/v1/{args.service}/")
        assert env_map(c)["YIBAO_JWT_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "yibao-jwt"
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert "limits" in c["resources"]


def test_prod_lets_scheduled_work_reach_the_service_it_calls_and_nothing_else() -> None:
    objects = rendered("prod")
    policies = of_kind(objects, "NetworkPolicy")
    apis = {svc: pod_labels(d) for svc, d in deployments(objects, "api").items()}
    for cronjob in of_kind(objects, "CronJob"):
        pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
        assert connects(policies, pod, apis[pod["app.kubernetes.io/name"]], 8000), cronjob["metadata"]["name"]
        assert not connects(policies, pod, apis["gateway"], 8000)
        assert not connects(policies, pod, database_pod(pod["app.kubernetes.io/name"]), 5432)
        assert not connects(policies, pod, KAFKA_BROKER, 9092)


def test_every_service_selects_the_pods_of_a_deployment(objects: list[dict[str, Any]]) -> None:
    deps = of_kind(objects, "Deployment")
    services = of_kind(objects, "Service")
    assert sorted(s["metadata"]["name"] for s in services) == sorted(SERVICES)
    for svc in services:
        selector = svc["spec"].get("selector")
        assert selector, f"Service {svc['metadata']['name']} selects nothing"
        targets = [d for d in deps if selector_matches({"matchLabels": selector}, pod_labels(d))]
        assert len(targets) == 1, f"Service {svc['metadata']['name']} selects {len(targets)} Deployments"
        (c,) = containers(targets[0])
        for port in svc["spec"]["ports"]:
            assert container_port(c, port.get("targetPort", port["port"])) == 8000


def test_each_api_deployment_has_a_cpu_hpa_and_a_pdb(overlay: str, objects: list[dict[str, Any]]) -> None:
    apis = deployments(objects, "api")
    hpas = of_kind(objects, "HorizontalPodAutoscaler")
    pdbs = of_kind(objects, "PodDisruptionBudget")
    for svc, dep in apis.items():
        name = dep["metadata"]["name"]
        mine = [
            h
            for h in hpas
            if h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        ]
        assert len(mine) == 1, f"{svc}: {len(mine)} HPAs"
        hpa = mine[0]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in hpa["spec"]["metrics"])
        assert hpa["spec"]["minReplicas"] == EXPECTED[overlay]["api_min"]
        assert hpa["spec"]["maxReplicas"] >= hpa["spec"]["minReplicas"]
        assert "replicas" not in dep["spec"], f"{svc}: the HPA owns the replica count"
        covering = [p for p in pdbs if selector_matches(p["spec"]["selector"], pod_labels(dep))]
        assert len(covering) == 1, f"{svc}: {len(covering)} PDBs"
        assert covering[0]["apiVersion"] == "policy/v1"


def test_worker_replicas(overlay: str, objects: list[dict[str, Any]]) -> None:
    for svc, dep in deployments(objects, "worker").items():
        assert dep["spec"]["replicas"] == EXPECTED[overlay]["workers"], svc


# --------------------------------------------------------------------------------------------
# Configuration, images, secrets
# --------------------------------------------------------------------------------------------


def test_common_config(overlay: str, objects: list[dict[str, Any]]) -> None:
    config = by_name(objects, "ConfigMap")["yibao-config"]["data"]
    assert config["YIBAO_ENV"] == EXPECTED[overlay]["env"]
    assert config["KAFKA_BOOTSTRAP_SERVERS"] == f"{KAFKA_CLUSTER}-kafka-bootstrap:9092"


def test_prod_runs_in_production_with_a_pinned_image() -> None:
    objects = rendered("prod")
    assert by_name(objects, "ConfigMap")["yibao-config"]["data"]["YIBAO_ENV"] == "production"
    images = {c["image"] for o in objects if o["kind"] in ("Deployment", "Job") for c in containers(o)}
    assert len(images) == 1, images
    (image,) = images
    _, tag, digest = split_image(image)
    assert digest or (tag and tag not in ("latest", "dev")), f"prod image is not pinned: {image}"


def test_dev_uses_the_locally_built_image() -> None:
    images = {c["image"] for o in rendered("dev") if o["kind"] in ("Deployment", "Job") for c in containers(o)}
    assert images == {"yibao:dev"}


def test_no_secret_values_are_committed() -> None:
    for overlay in OVERLAYS:
        for obj in rendered(overlay):
            if obj["kind"] == "Secret":
                name = obj["metadata"]["name"]
                assert not obj.get("data"), f"{overlay}: Secret {name} carries data"
                assert not obj.get("stringData"), f"{overlay}: Secret {name} carries stringData"
    for path in K8S.rglob("*.y*ml"):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not isinstance(doc, dict):
                continue
            assert "secretGenerator" not in doc, f"{path}: secretGenerator commits secret values"
            if doc.get("kind") == "Secret":
                assert not doc.get("data"), f"{path}: Secret with data"
                assert not doc.get("stringData"), f"{path}: Secret with stringData"


# --------------------------------------------------------------------------------------------
# Kafka and PostgreSQL
# --------------------------------------------------------------------------------------------


def test_kafka_is_a_kraft_cluster_with_node_pools(overlay: str, objects: list[dict[str, Any]]) -> None:
    expected = EXPECTED[overlay]
    kafka = by_name(objects, "Kafka")[KAFKA_CLUSTER]
    assert kafka["apiVersion"].startswith("kafka.strimzi.io/")
    annotations = kafka["metadata"].get("annotations") or {}
    assert annotations.get("strimzi.io/node-pools") == "enabled"
    assert annotations.get("strimzi.io/kraft") == "enabled"
    assert "zookeeper" not in kafka["spec"]
    listeners = {(lst["port"], lst.get("tls", False)) for lst in kafka["spec"]["kafka"]["listeners"]}
    assert (9092, False) in listeners, "the bootstrap address in the ConfigMap needs a plain listener on 9092"
    config = kafka["spec"]["kafka"]["config"]
    assert int(config["default.replication.factor"]) == expected["replication"]
    assert int(config["offsets.topic.replication.factor"]) == expected["replication"]
    assert int(config["min.insync.replicas"]) == expected["min_isr"]
    pools = of_kind(objects, "KafkaNodePool")
    assert all(p["metadata"]["labels"]["strimzi.io/cluster"] == KAFKA_CLUSTER for p in pools)
    assert any({"controller", "broker"} <= set(p["spec"]["roles"]) for p in pools)
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    assert brokers == expected["kafka_nodes"]


def test_every_event_topic_and_its_dead_letter_topic_exist(overlay: str, objects: list[dict[str, Any]]) -> None:
    expected = EXPECTED[overlay]
    topics = {t["spec"].get("topicName", t["metadata"]["name"]): t for t in of_kind(objects, "KafkaTopic")}
    assert set(topics) == ALL_TOPICS
    brokers = sum(p["spec"]["replicas"] for p in of_kind(objects, "KafkaNodePool") if "broker" in p["spec"]["roles"])
    for name, topic in topics.items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == KAFKA_CLUSTER, name
        assert topic["spec"]["partitions"] == expected["partitions"], name
        assert topic["spec"]["replicas"] == expected["replication"], name
        assert topic["spec"]["replicas"] <= brokers, name
        assert int(topic["spec"]["config"]["min.insync.replicas"]) == expected["min_isr"], name
        assert int(topic["spec"]["config"]["min.insync.replicas"]) <= topic["spec"]["replicas"], name


def expected_acls(svc: str) -> set[tuple[str, str, str]]:
    acls = {("cluster", "", "IdempotentWrite")}
    for topic in TOPIC_WRITES[svc]:
        acls |= {("topic", topic, "Write"), ("topic", topic, "Describe")}
    for topic in TOPIC_READS[svc]:
        acls |= {("topic", topic, "Read"), ("topic", topic, "Describe")}
        acls |= {("topic", f"{topic}.dlq", "Write"), ("topic", f"{topic}.dlq", "Describe")}
    if TOPIC_READS[svc]:
        acls.add(("group", svc, "Read"))
    return acls


def test_each_service_kafka_user_has_exactly_the_acls_it_needs(objects: list[dict[str, Any]]) -> None:
    users = by_name(objects, "KafkaUser")
    assert sorted(users) == sorted(WORKER_SERVICES)
    for svc, user in users.items():
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == KAFKA_CLUSTER
        assert user["spec"]["authorization"]["type"] == "simple"
        actual: set[tuple[str, str, str]] = set()
        for rule in user["spec"]["authorization"]["acls"]:
            assert rule.get("type", "allow") == "allow"
            resource = rule["resource"]
            assert resource.get("patternType", "literal") == "literal"
            ops = rule.get("operations") or [rule["operation"]]
            actual |= {(resource["type"], resource.get("name", ""), op) for op in ops}
        assert actual == expected_acls(svc), svc


def test_each_service_owns_a_cloudnativepg_cluster(overlay: str, objects: list[dict[str, Any]]) -> None:
    clusters = by_name(objects, "Cluster")
    assert sorted(clusters) == sorted(f"{svc}-db" for svc in SERVICES)
    for svc in SERVICES:
        cluster = clusters[f"{svc}-db"]
        assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
        assert cluster["spec"]["bootstrap"]["initdb"] == {"database": f"yibao_{svc}", "owner": svc}
        assert cluster["spec"]["instances"] == EXPECTED[overlay]["pg_instances"]
        assert cluster["spec"]["storage"]["size"]


# --------------------------------------------------------------------------------------------
# NetworkPolicies: a tiny evaluator, pods in the yibao namespace only
# --------------------------------------------------------------------------------------------

NAMESPACE_LABELS = {"kubernetes.io/metadata.name": NAMESPACE}
KAFKA_BROKER = {"strimzi.io/cluster": KAFKA_CLUSTER, "strimzi.io/kind": "Kafka"}


def database_pod(svc: str) -> dict[str, str]:
    return {"cnpg.io/cluster": f"{svc}-db", "cnpg.io/instanceRole": "primary"}


def peer_allows(peer: dict[str, Any], labels: dict[str, str] | None, namespace_labels: dict[str, str]) -> bool:
    if "ipBlock" in peer:
        return False  # pods in the namespace are reached by selectors here, not by IP
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], namespace_labels):
            return False
    elif namespace_labels != NAMESPACE_LABELS:
        return False
    if "podSelector" in peer:
        return labels is not None and selector_matches(peer["podSelector"], labels)
    return True


def rule_allows(rule: dict[str, Any], key: str, labels: dict[str, str] | None, ns: dict[str, str], port: int) -> bool:
    ports = rule.get("ports")
    if ports and not any(p.get("port") == port for p in ports):
        return False
    peers = rule.get(key)
    return not peers or any(peer_allows(p, labels, ns) for p in peers)


def allowed(
    policies: list[dict[str, Any]],
    direction: str,
    pod: dict[str, str],
    peer: dict[str, str] | None,
    port: int,
    peer_namespace: dict[str, str] = NAMESPACE_LABELS,
) -> bool:
    """Does some policy selecting `pod` allow traffic in `direction` with `peer` on `port`?"""
    key = "from" if direction == "Ingress" else "to"
    rules_key = "ingress" if direction == "Ingress" else "egress"
    selecting = [
        p
        for p in policies
        if selector_matches(p["spec"]["podSelector"], pod) and direction in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not selecting:
        return True  # not isolated
    return any(
        rule_allows(rule, key, peer, peer_namespace, port) for p in selecting for rule in p["spec"].get(rules_key) or []
    )


def connects(policies: list[dict[str, Any]], src: dict[str, str], dst: dict[str, str], port: int) -> bool:
    return allowed(policies, "Egress", src, dst, port) and allowed(policies, "Ingress", dst, src, port)


def test_prod_network_policies_deny_by_default_and_allow_what_yibao_needs() -> None:
    objects = rendered("prod")
    policies = of_kind(objects, "NetworkPolicy")
    default_deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] in ({}, None)
        and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert default_deny, "prod has no default-deny NetworkPolicy"

    apis = {svc: pod_labels(d) for svc, d in deployments(objects, "api").items()}
    workers = {svc: pod_labels(d) for svc, d in deployments(objects, "worker").items()}
    jobs = {pod_labels(j)["app.kubernetes.io/name"]: pod_labels(j) for j in of_kind(objects, "Job")}
    ingress_nginx = {"kubernetes.io/metadata.name": "ingress-nginx"}
    kube_dns = {"k8s-app": "kube-dns"}
    kube_system = {"kubernetes.io/metadata.name": "kube-system"}

    # Everything resolves names.
    for pod in [*apis.values(), *workers.values(), *jobs.values()]:
        assert allowed(policies, "Egress", pod, kube_dns, 53, kube_system)
    # The gateway takes traffic from the ingress controller; the four services do not.
    assert allowed(policies, "Ingress", apis["gateway"], {}, 8000, ingress_nginx)
    for svc in BACKENDS:
        assert not allowed(policies, "Ingress", apis[svc], {}, 8000, ingress_nginx), svc
        # The gateway calls every service; of the others only settlement's API calls one:
        # supervision's in-stage check (事中审核).
        assert connects(policies, apis["gateway"], apis[svc], 8000), svc
        for other in BACKENDS:
            if other != svc:
                in_stage_check = (other, svc) == ("settlement", "supervision")
                assert connects(policies, apis[other], apis[svc], 8000) == in_stage_check, f"{other} -> {svc}"
                assert not connects(policies, workers[other], apis[svc], 8000), f"{other} worker -> {svc}"
    # Each service's pods reach their own database and no other service's.
    for svc in SERVICES:
        pods = [apis[svc], jobs[svc], *([workers[svc]] if svc in workers else [])]
        for pod in pods:
            assert connects(policies, pod, database_pod(svc), 5432), svc
            for other in SERVICES:
                if other != svc:
                    assert not connects(policies, pod, database_pod(other), 5432), f"{svc} -> {other}-db"
    # Workers and the four services' APIs (/readyz probes the broker) reach Kafka; the gateway and
    # the migrations do not use it.
    for pod in [*workers.values(), *(apis[s] for s in BACKENDS)]:
        assert connects(policies, pod, KAFKA_BROKER, 9092)
    for pod in [*jobs.values(), apis["gateway"]]:
        assert not connects(policies, pod, KAFKA_BROKER, 9092)
    # Default deny holds for what is not listed.
    assert not connects(policies, workers["enrollment"], apis["gateway"], 8000)


def test_dev_has_no_network_policies() -> None:
    assert not of_kind(rendered("dev"), "NetworkPolicy")


# --------------------------------------------------------------------------------------------
# Image
# --------------------------------------------------------------------------------------------


def test_dockerfile_builds_one_non_root_image_with_uv() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "python:3.11-slim" in text
    assert re.search(r"pip install .*\buv\b", text)
    assert "uv sync --frozen --no-dev" in text
    assert "UV_PROJECT_ENVIRONMENT=/app/.venv" in text
    assert re.search(r"^COPY .*pyproject\.toml.*uv\.lock", text, re.M)
    assert re.search(r"^COPY shared/? ", text, re.M)
    assert re.search(r"^COPY services/? ", text, re.M)
    assert re.search(r"^WORKDIR /app$", text, re.M)
    assert re.search(r"PATH=/app/\.venv/bin", text)
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users, "the image runs as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    ignored = {line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()}
    assert {".venv", "var", ".git", "tests", "bench"} <= ignored


# --------------------------------------------------------------------------------------------
# Compose
# --------------------------------------------------------------------------------------------


def compose_services() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    services: dict[str, dict[str, Any]] = data["services"]
    return services


def as_list(command: Any) -> list[str]:
    return command.split() if isinstance(command, str) else list(command)


def test_compose_parses_and_builds_the_one_image() -> None:
    services = compose_services()
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert "broker" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["postgres"]["image"].startswith("postgres:")
    app = [s for s in services.values() if "build" in s]
    assert len(app) == 2 * len(SERVICES) + len(WORKER_SERVICES)
    for s in app:
        context = (COMPOSE.parent / s["build"]["context"]).resolve()
        assert context == ROOT
        assert (context / s["build"]["dockerfile"]).resolve() == DOCKERFILE


def test_compose_creates_a_database_per_service() -> None:
    init = COMPOSE.parent / "initdb"
    sql = "\n".join(p.read_text(encoding="utf-8") for p in sorted(init.glob("*.sql")))
    for svc in SERVICES:
        assert re.search(rf"CREATE DATABASE yibao_{svc}\b", sql), svc
    mounts = compose_services()["postgres"]["volumes"]
    assert any(str(m).startswith("./initdb:/docker-entrypoint-initdb.d") for m in mounts)


def test_compose_runs_each_api_after_its_migration() -> None:
    services = compose_services()
    for svc in SERVICES:
        migrate = services[f"{svc}-migrate"]
        assert as_list(migrate["command"]) == migrate_command(svc)
        assert str(migrate.get("restart", "no")) == "no"
        api = services[svc]
        assert as_list(api["command"]) == api_command(svc)
        condition = api["depends_on"][f"{svc}-migrate"]["condition"]
        assert condition == "service_completed_successfully", svc
    for svc in WORKER_SERVICES:
        worker = services[f"{svc}-worker"]
        assert as_list(worker["command"]) == worker_command(svc)
        assert worker["depends_on"][f"{svc}-migrate"]["condition"] == "service_completed_successfully"
    assert "gateway-worker" not in services
    published = [str(p) for s in services.values() for p in s.get("ports") or []]
    assert published == ["8000:8000"], "only the gateway is published, on 8000"
    assert services["gateway"]["ports"] == ["8000:8000"]
    gateway_env = services["gateway"]["environment"]
    for svc in BACKENDS:
        assert gateway_env[f"GATEWAY_{svc.upper()}_URL"] == f"http://{svc}:8000"
    # 事中审核: settlement asks supervision directly, with the common settings too.
    settlement_env = services["settlement"]["environment"]
    assert settlement_env["SETTLEMENT_SUPERVISION_URL"] == "http://supervision:8000"
    assert settlement_env["DATABASE_URL"] == services["gateway"]["environment"]["DATABASE_URL"]


def test_compose_creates_every_topic() -> None:
    services = compose_services()
    script = " ".join(as_list(services["kafka-topics"]["command"]))
    for topic in EVENT_TOPICS:
        assert topic in script
    assert ".dlq" in script
    for svc in WORKER_SERVICES:
        condition = services[f"{svc}-worker"]["depends_on"]["kafka-topics"]["condition"]
        assert condition == "service_completed_successfully"
