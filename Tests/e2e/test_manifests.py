"""manifests/ and the Containerfile, checked offline against a pinned Kubernetes schema and against the
real `super-agent` binary.

- Every YAML document under manifests/ is validated (strict: unknown fields fail) against the
  Kubernetes JSON schemas bundled in the pinned `kubernetes-validate` wheel, for each version in
  KUBERNETES_VERSIONS. No network is needed. A kind without a bundled schema fails the test; the
  only non-Kubernetes document, the Kustomization, gets its own structural checks.
- Everything the manifests tell the binary is checked against the binary: env names against the
  `--help` texts, container args against `pool --help` and by a real `pool --print-config` with the
  Deployment's env, args and ConfigMap; probe and metrics paths against a running pool on loopback.
- The Containerfile is parsed: non-root numeric USER, ENTRYPOINT/CMD, pinned CLI versions, and apt
  packages that match Package.swift's pkg-config modules and the binary's DT_NEEDED libraries.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
import shutil
import struct
import subprocess
import tempfile
import warnings
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

from conftest import ROOT, binary
from pool import TOKEN, Pool

MANIFESTS = ROOT / "manifests"
CONTAINERFILE = ROOT / "Containerfile"

# The Kubernetes versions the manifests must validate against: the oldest release we support and the
# newest whose schemas the pinned kubernetes-validate (requirements-test.txt) bundles.
KUBERNETES_VERSIONS = ("1.30", "1.37")

# Files under manifests/ that are deliberately not in kustomization.yaml's resources.
NOT_IN_KUSTOMIZATION = {
    "secret.example.yaml": "an example with placeholders; operators create the real Secret",
    "prometheus-adapter/rules.yaml": "belongs to the monitoring stack, applied there",
}

# PENDING: settings the manifests use ahead of the binary. Each entry is allowed although the binary
# does not (yet) document it; remove an entry once `super-agent pool --help` lists the name.
# Env names the manifests may use before the binary documents them (none now: keep it empty).
PENDING_ENV: dict[str, str] = {}

# Debian 12 runtime package of each pkg-config module's shared library.
MODULE_RUNTIME_PACKAGE = {
    "jansson": "libjansson4",
    "sqlite3": "libsqlite3-0",
    "libmicrohttpd": "libmicrohttpd12",
    "libcurl": "libcurl4",
    "hiredis": "libhiredis0.14",
}

# The npm package that provides each built-in adapter's program.
CLI_PACKAGES = {
    "claude": "@anthropic-ai/claude-code",
    "gemini": "@google/gemini-cli",
    "codex": "@openai/codex",
}

# Shared libraries the runtime image has without installing anything for them: glibc, the C++
# runtime that apt itself needs, and the Swift runtime (linked statically by --static-swift-stdlib).
BASE_LIBRARIES = re.compile(
    r"^(libc|libm|libdl|libpthread|librt|libresolv|libutil|ld-linux.*|libgcc_s|libstdc\+\+)\.so"
    r"|^libswift|^libdispatch\.so|^libBlocksRuntime\.so|^libFoundation"
)

# Values the pod gets at run time, for running the binary with the Deployment's environment.
SAMPLE_FIELD_VALUES = {"metadata.name": "super-agent-7d9f8-abcde", "status.podIP": "10.1.2.3"}

POOL_LABELS = {"app.kubernetes.io/name": "super-agent", "app.kubernetes.io/component": "pool"}
REDIS_LABELS = {"app.kubernetes.io/name": "super-agent", "app.kubernetes.io/component": "redis"}


# --- loading -------------------------------------------------------------------------------------


def yaml_files() -> list[Path]:
    return sorted(p for p in MANIFESTS.rglob("*") if p.suffix in (".yaml", ".yml"))


def rel(path: Path) -> str:
    return path.relative_to(MANIFESTS).as_posix()


@cache
def documents() -> tuple[tuple[str, dict], ...]:
    """Every non-empty YAML document under manifests/, with its file."""
    docs = []
    for path in yaml_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is None:
                continue
            assert isinstance(doc, dict), f"{rel(path)}: a document that is not a mapping: {doc!r}"
            docs.append((rel(path), doc))
    return tuple(docs)


def k8s_documents() -> list[tuple[str, dict]]:
    return [(f, d) for f, d in documents() if d.get("kind") != "Kustomization"]


def find(kind: str, name: str) -> dict:
    hits = [d for _, d in documents() if d.get("kind") == kind and d["metadata"]["name"] == name]
    assert len(hits) == 1, f"expected exactly one {kind}/{name}, found {len(hits)}"
    return hits[0]


def kustomization() -> dict:
    return yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())


def included_documents() -> list[dict]:
    out = []
    for resource in kustomization()["resources"]:
        out += [d for d in yaml.safe_load_all((MANIFESTS / resource).read_text()) if d]
    return out


def pool_deployment() -> dict:
    return find("Deployment", "super-agent")


def pool_container() -> dict:
    (c,) = [c for c in pool_deployment()["spec"]["template"]["spec"]["containers"] if c["name"] == "super-agent"]
    return c


def redis_deployment() -> dict:
    return find("Deployment", "super-agent-redis")


def workloads() -> list[dict]:
    return [d for _, d in documents() if d.get("kind") == "Deployment"]


def selects(selector: dict, labels: dict) -> bool:
    """Whether a label selector (matchLabels and matchExpressions, or a Service's plain map) matches."""
    match = selector.get("matchLabels", selector if "matchExpressions" not in selector else {})
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    for e in selector.get("matchExpressions", []):
        has, value = e["key"] in labels, labels.get(e["key"])
        ok = {
            "In": has and value in e.get("values", []),
            "NotIn": not has or value not in e.get("values", []),
            "Exists": has,
            "DoesNotExist": not has,
        }[e["operator"]]
        if not ok:
            return False
    return True


def selected_workloads(selector: dict) -> list[str]:
    return [d["metadata"]["name"] for d in workloads() if selects(selector, d["spec"]["template"]["metadata"]["labels"])]


def named_port(container: dict, port) -> int:
    if isinstance(port, int):
        return port
    hits = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert hits, f"container {container['name']} has no port named {port!r}"
    return hits[0]


# --- the binary ----------------------------------------------------------------------------------


def clean_env(tmp: str, **extra: str) -> dict[str, str]:
    """A minimal environment, so nothing from the host (SUPER_AGENT_*) leaks into a check."""
    return {"PATH": "/usr/bin:/bin", "HOME": tmp, **extra}


@cache
def help_text(*command: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([binary(), *command, "--help"], capture_output=True, text=True, env=clean_env(tmp), timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


@cache
def all_help() -> str:
    return "\n".join(help_text(*c) for c in ((), ("pool",), ("mcp",), ("run",)))


@cache
def commands() -> set[str]:
    return set(re.findall(r"^  ([a-z][a-z-]*)\s{2,}", help_text(), re.M))


@cache
def options(command: str) -> set[str]:
    return set(re.findall(r"^\s+--([a-z][a-z0-9-]*)", help_text(command), re.M))


@cache
def documented_env() -> set[str]:
    return set(re.findall(r"\b(SUPER_AGENT_[A-Z0-9_]+|ROLE_ID)\b", all_help()))


@cache
def binary_bytes() -> bytes:
    return Path(binary()).read_bytes()


def print_config(args: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run([binary(), "pool", "--print-config", *args], capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0, f"pool --print-config {args} failed ({out.returncode}): {out.stderr or out.stdout}"
    return json.loads(out.stdout)


@cache
def default_config() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        return print_config([], clean_env(tmp))


def configmap_json() -> str:
    return find("ConfigMap", "super-agent-config")["data"]["config.json"]


def container_env(container: dict) -> list[dict]:
    return container.get("env", [])


def resolved_env(container: dict, overrides: dict[str, str]) -> dict[str, str]:
    """The container's environment as the kubelet would build it: literal values, $(VAR) expanded
    from earlier entries, downward-API fields and secrets replaced by sample values."""
    env: dict[str, str] = {}
    for e in container_env(container):
        name = e["name"]
        if "value" in e:
            value = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), e["value"])
        else:
            source = e["valueFrom"]
            if "fieldRef" in source:
                value = SAMPLE_FIELD_VALUES[source["fieldRef"]["fieldPath"]]
            elif "secretKeyRef" in source:
                value = TOKEN if name == "SUPER_AGENT_POOL_TOKEN" else f"placeholder-{name.lower()}"
            else:
                raise AssertionError(f"unexpected valueFrom for {name}: {source}")
        env[name] = value
    env.update(overrides)
    return env


@cache
def effective_pool_config() -> dict:
    """`pool --print-config` run with the pool container's args, environment and ConfigMap."""
    c = pool_container()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.json"
        config.write_text(configmap_json())
        env = resolved_env(c, {"SUPER_AGENT_CONFIG": str(config)})
        env.setdefault("PATH", "/usr/bin:/bin")
        env.setdefault("HOME", tmp)
        return print_config(c["args"][1:], env)


# --- schema validation -----------------------------------------------------------------------------


def test_every_manifest_file_parses_and_has_documents():
    files = yaml_files()
    assert files, "no YAML under manifests/"
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert docs, f"{rel(path)} has no documents"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_document_validates_against_the_pinned_kubernetes_schema(version):
    checked = []
    for file, doc in k8s_documents():
        for key in ("apiVersion", "kind", "metadata"):
            assert key in doc, f"{file}: a document without {key}"
        what = f"{file}: {doc['kind']}/{doc['metadata'].get('name')}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except SchemaNotFoundError as e:
            pytest.fail(f"{what}: no bundled schema ({e.message}); every document must be validated")
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            pytest.fail(f"{what} is invalid for Kubernetes {version} at {path}: {e.message}")
        checked.append(what)
    kinds = {d["kind"] for _, d in k8s_documents()}
    expected = {"Deployment", "Service", "ConfigMap", "Secret", "ServiceAccount", "HorizontalPodAutoscaler",
                "PodDisruptionBudget", "NetworkPolicy"}
    assert expected <= kinds, f"missing kinds: {expected - kinds}"
    assert len(checked) == len(k8s_documents())


def test_the_validator_rejects_a_broken_manifest():
    """The validation above has teeth: a misspelt field and a wrong type both fail."""
    doc = json.loads(json.dumps(pool_deployment()))
    doc["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[0], strict=True)
    doc = json.loads(json.dumps(pool_deployment()))
    doc["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "330"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kustomize_build_renders_valid_objects(version, tmp_path):
    """`kubectl kustomize` (kustomize built into kubectl, offline) renders the directory, and what it
    renders (labels and the image added) validates too."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl is not installed: the kustomize rendering is checked only structurally (test below)")
    out = subprocess.run([kubectl, "kustomize", str(MANIFESTS)], capture_output=True, text=True, timeout=120,
                         env=clean_env(str(tmp_path)))
    assert out.returncode == 0, out.stderr
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in rendered) == sorted(
        (d["kind"], d["metadata"]["name"]) for d in included_documents())
    for doc in rendered:
        kubernetes_validate.validate(doc, version, strict=True)
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "super-agent"
    (deploy,) = [d for d in rendered if d["kind"] == "Deployment" and d["metadata"]["name"] == "super-agent"]
    image = kustomization()["images"][0]
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == f"{image['newName']}:{image['newTag']}"


def test_kustomization_lists_every_manifest_but_the_excluded_ones():
    k = kustomization()
    assert k["apiVersion"] == "kustomize.config.k8s.io/v1beta1" and k["kind"] == "Kustomization"
    allowed = {"apiVersion", "kind", "namespace", "labels", "commonLabels", "commonAnnotations", "resources",
               "images", "configMapGenerator", "secretGenerator", "patches"}
    assert set(k) <= allowed, f"unexpected kustomization keys: {set(k) - allowed}"
    assert "secretGenerator" not in k, "a secretGenerator needs a secrets file that is never committed; keep it commented"
    resources = k["resources"]
    assert len(resources) == len(set(resources))
    for r in resources:
        assert (MANIFESTS / r).is_file(), f"kustomization lists missing {r}"
    on_disk = {rel(p) for p in yaml_files()} - {"kustomization.yaml"}
    assert set(resources) == on_disk - set(NOT_IN_KUSTOMIZATION), "kustomization resources vs files on disk"
    assert set(NOT_IN_KUSTOMIZATION) <= on_disk
    for doc in included_documents():
        assert doc["kind"] != "Secret", "no Secret may be applied by default"
        assert "namespace" not in doc["metadata"], "namespaces come from kustomization, not the resources"
    images = {i["name"]: i for i in k["images"]}
    for d in workloads():
        for c in d["spec"]["template"]["spec"]["containers"]:
            if d["metadata"]["name"] == "super-agent":
                assert c["image"] in images, "the pool image must be set through kustomization images"


# --- cross-checks against the binary ------------------------------------------------------------------


def manifest_env_names() -> set[str]:
    names = set()
    for d in workloads():
        for c in d["spec"]["template"]["spec"]["containers"]:
            names |= {e["name"] for e in container_env(c)}
    return names


def containerfile_env_names() -> set[str]:
    return {name for instr, rest in containerfile_instructions() if instr == "ENV" for name in env_assignments(rest)}


def test_every_super_agent_env_name_is_one_the_binary_reads():
    ours = {n for n in manifest_env_names() | containerfile_env_names() if n.startswith("SUPER_AGENT_") or n == "ROLE_ID"}
    assert ours, "no SUPER_AGENT_ variables found"
    known = documented_env()
    unknown = sorted(n for n in ours if n not in known and n not in PENDING_ENV)
    assert not unknown, f"env names the binary does not document in --help: {unknown}"
    for name in sorted(ours & set(PENDING_ENV)):
        if name in known:
            warnings.warn(f"{name} is now in --help: remove it from PENDING_ENV in {Path(__file__).name}")
        elif re.search(rb"(?<![A-Z0-9_])" + name.encode() + rb"(?![A-Z0-9_])", binary_bytes()):
            warnings.warn(f"the binary contains {name} but no --help lists it; document it, then drop it from PENDING_ENV")


def test_pending_env_allow_list_is_explicit_and_small():
    # The allow-list may only hold names the manifests use; anything else is a stale entry.
    assert set(PENDING_ENV) <= manifest_env_names()
    # And a name nobody reads is caught: a bogus variable would fail the check above.
    assert "SUPER_AGENT_NO_SUCH_SETTING" not in documented_env()


def test_container_args_are_the_pool_command_and_its_flags():
    args = pool_container()["args"]
    assert args[0] == "pool" and "pool" in commands()
    flags = [a[2:].split("=", 1)[0] for a in args if a.startswith("--")]
    assert flags, "the pool container passes no flags"
    unknown = [f for f in flags if f not in options("pool")]
    assert not unknown, f"flags `super-agent pool --help` does not list: {unknown}"
    assert "slots" in flags


def test_configmap_config_is_accepted_by_print_config(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(configmap_json())
    json.loads(path.read_text())
    config = print_config(["--config", str(path)], clean_env(str(tmp_path)))
    for key, value in json.loads(configmap_json()).get("pool", {}).items():
        assert config["pool"][key] == value, f"pool.{key} did not take effect"


def test_a_bad_config_key_is_refused_by_print_config(tmp_path):
    """The check above would catch a misspelt key: the binary refuses unknown keys."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"pool": {"slotz": 3}}))
    out = subprocess.run([binary(), "pool", "--print-config", "--config", str(path)], capture_output=True, text=True,
                         env=clean_env(str(tmp_path)), timeout=30)
    assert out.returncode != 0


def test_config_file_is_mounted_where_super_agent_config_points():
    c = pool_container()
    value = {e["name"]: e.get("value") for e in container_env(c)}["SUPER_AGENT_CONFIG"]
    volumes = {v["name"]: v for v in pool_deployment()["spec"]["template"]["spec"]["volumes"]}
    found = False
    for m in c["volumeMounts"]:
        v = volumes[m["name"]]
        if "configMap" in v and value.startswith(m["mountPath"].rstrip("/") + "/"):
            assert v["configMap"]["name"] == "super-agent-config"
            items = {i["path"]: i["key"] for i in v["configMap"].get("items", [])}
            file = value[len(m["mountPath"].rstrip("/")) + 1:]
            assert items.get(file, file) == "config.json"
            assert m.get("readOnly") is True
            found = True
    assert found, f"SUPER_AGENT_CONFIG={value} is not inside the mounted ConfigMap"


def test_effective_configuration_matches_the_deployment():
    config = effective_pool_config()
    d = pool_deployment()
    spec = d["spec"]["template"]["spec"]
    c = pool_container()
    pool = config["pool"]
    assert pool["slots"] == 3
    # The API port: the default listen address's port, the container port, and what the pod listens on.
    default_port = int(default_config()["pool"]["listen"].rsplit(":", 1)[1])
    assert default_port == 8080
    listen_host, listen_port = pool["listen"].rsplit(":", 1)
    assert int(listen_port) == named_port(c, "http") == default_port
    assert listen_host in ("0.0.0.0", "[::]", "::"), "the pool must listen on all interfaces in a pod"
    # Drain: the kubelet must not SIGKILL before the grace plus the 10 s the pool takes to reap runs.
    assert spec["terminationGracePeriodSeconds"] > pool["drain_grace_s"] + 10
    assert pool["drain_grace_s"] > 0
    # Where the pool writes: only emptyDir mounts, the root filesystem being read-only.
    writable = writable_emptydir_mounts(d, c)
    scratch = pool["scratch_dir"] or config["state_dir"] + "/workspaces"
    for path in [config["state_dir"], scratch, *pool["workspace_roots"]]:
        assert any(path == m or path.startswith(m.rstrip("/") + "/") for m in writable), f"{path} is not on an emptyDir"
    assert pool["workspace_roots"], "caller-mode runs need an explicit workspace root in a pod"
    # The workspace roots must not contain the state dir (isolated runs' workspaces live there).
    for root in pool["workspace_roots"]:
        assert not (config["state_dir"] + "/").startswith(root.rstrip("/") + "/")
    assert pool["confinement"] in ("auto", "landlock", "none")


def writable_emptydir_mounts(deployment: dict, container: dict) -> list[str]:
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"].get("volumes", [])}
    return [m["mountPath"] for m in container.get("volumeMounts", [])
            if "emptyDir" in volumes[m["name"]] and not m.get("readOnly")]


def test_api_keys_and_token_come_from_the_secret_and_reach_their_adapters():
    c = pool_container()
    by_name = {e["name"]: e for e in container_env(c)}
    example = find("Secret", "super-agent-secrets")
    placeholders = example.get("stringData", {})
    required = {"SUPER_AGENT_POOL_TOKEN", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENAI_API_KEY"}
    for name in required:
        assert name in by_name, f"{name} is not set"
        ref = by_name[name].get("valueFrom", {}).get("secretKeyRef")
        assert ref, f"{name} must come from a Secret, never a literal value"
        assert ref["name"] == example["metadata"]["name"]
        assert ref["key"] in placeholders, f"secret.example.yaml has no key {ref['key']}"
    for name, value in placeholders.items():
        assert "REPLACE_ME" in value, f"secret.example.yaml must hold placeholders only ({name})"
    assert "data" not in example
    # Each API key is one some adapter passes to its runs (pass_env); the token is passed to none.
    pass_env = {n for a in effective_pool_config()["adapters"].values() for n in a["pass_env"]}
    for name in required - {"SUPER_AGENT_POOL_TOKEN"}:
        assert name in pass_env, f"{name} is given to the pod but no adapter passes it to a run"
    assert "SUPER_AGENT_POOL_TOKEN" not in pass_env


def test_downward_api_and_variable_references():
    env = container_env(pool_container())
    by_name = {e["name"]: e for e in env}
    assert by_name["SUPER_AGENT_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert by_name["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    seen: set[str] = set()
    for e in env:
        for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", e.get("value", "")):
            assert ref in seen, f"{e['name']} uses $({ref}) before it is defined (Kubernetes leaves it unexpanded)"
        seen.add(e["name"])
    advertise = urlsplit(resolved_env(pool_container(), {})["SUPER_AGENT_ADVERTISE_URL"])
    assert advertise.scheme == "http" and advertise.hostname == SAMPLE_FIELD_VALUES["status.podIP"]
    assert advertise.port == named_port(pool_container(), "http")


def test_redis_url_points_at_the_redis_service():
    url = urlsplit(resolved_env(pool_container(), {})["SUPER_AGENT_REDIS_URL"])
    assert url.scheme == "redis"
    svc = find("Service", url.hostname)
    ports = {p["port"]: p for p in svc["spec"]["ports"]}
    assert url.port in ports
    assert selected_workloads(svc["spec"]["selector"]) == ["super-agent-redis"]
    (redis,) = redis_deployment()["spec"]["template"]["spec"]["containers"]
    assert named_port(redis, ports[url.port]["targetPort"]) == url.port == 6379


def test_services_and_selectors_target_the_right_pods():
    svc = find("Service", "super-agent")
    assert svc["spec"]["type"] == "ClusterIP"
    (port,) = svc["spec"]["ports"]
    assert port["name"] == "http" and port["port"] == 8080
    assert named_port(pool_container(), port["targetPort"]) == 8080
    assert selected_workloads(svc["spec"]["selector"]) == ["super-agent"]
    for d in workloads():
        assert selects(d["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
    assert selected_workloads(find("PodDisruptionBudget", "super-agent")["spec"]["selector"]) == ["super-agent"]
    assert selected_workloads(find("NetworkPolicy", "super-agent")["spec"]["podSelector"]) == ["super-agent"]
    assert selected_workloads(find("NetworkPolicy", "super-agent-redis")["spec"]["podSelector"]) == ["super-agent-redis"]


def test_probe_and_metrics_paths_are_served_by_a_real_pool(tmp_path):
    c = pool_container()
    annotations = pool_deployment()["spec"]["template"]["metadata"].get("annotations", {})
    probes = {}
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        if kind in c:
            get = c[kind]["httpGet"]
            assert named_port(c, get["port"]) == 8080, f"{kind} is not on the API port"
            probes[kind] = get["path"]
    assert {"livenessProbe", "readinessProbe"} <= set(probes)
    metrics_path = annotations["prometheus.io/path"]
    assert int(annotations["prometheus.io/port"]) == 8080
    state, root = tmp_path / "state", tmp_path / "root"
    state.mkdir()
    root.mkdir()
    pool = Pool(str(state), [str(root)], slots=3)
    try:
        for path in [*probes.values(), metrics_path]:
            status, _, body = pool.request("GET", path, token=None)
            assert status == 200, f"GET {path} answered {status}: {body[:200]!r}"
        metrics = pool.metrics()
        hpa_metric = find("HorizontalPodAutoscaler", "super-agent")["spec"]["metrics"][0]["pods"]["metric"]["name"]
        assert re.search(rf"^{re.escape(hpa_metric)} \d+$", metrics, re.M), f"/metrics has no {hpa_metric} gauge"
        assert re.search(rf"^# TYPE {re.escape(hpa_metric)} gauge$", metrics, re.M)
        # An unknown path is not 200, so the check above means something.
        status, _, _ = pool.request("GET", "/no-such-probe", token=None)
        assert status == 404
    finally:
        pool.stop()
    # Liveness must not be the endpoint that turns 503 while draining (that would restart a draining pod).
    assert probes["livenessProbe"] == "/healthz" and probes["readinessProbe"] == "/readyz"


def test_hpa_scales_the_pool_on_busy_slots():
    hpa = find("HorizontalPodAutoscaler", "super-agent")
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "super-agent"}
    assert spec["minReplicas"] == 1 and spec["maxReplicas"] == 3
    assert "replicas" not in pool_deployment()["spec"], "the HPA owns replicas"
    (metric,) = spec["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == "super_agent_slots_busy"
    target = metric["pods"]["target"]
    assert target["type"] == "AverageValue"
    assert 0 < float(target["averageValue"]) <= effective_pool_config()["pool"]["slots"]
    up, down = spec["behavior"]["scaleUp"], spec["behavior"]["scaleDown"]
    assert up["stabilizationWindowSeconds"] < down["stabilizationWindowSeconds"]
    # Scale down only after load stayed low for longer than a typical run.
    assert down["stabilizationWindowSeconds"] > effective_pool_config()["pool"]["default_timeout_s"]


def test_prometheus_adapter_rule_exposes_the_hpa_metric():
    cm = find("ConfigMap", "prometheus-adapter")
    rules = yaml.safe_load(cm["data"]["config.yaml"])["rules"]
    name = find("HorizontalPodAutoscaler", "super-agent")["spec"]["metrics"][0]["pods"]["metric"]["name"]
    (rule,) = [r for r in rules if name in r["seriesQuery"]]
    assert rule["name"]["as"] == name
    assert re.fullmatch(rule["name"]["matches"], name)
    assert rule["resources"]["overrides"]["pod"]["resource"] == "pod"
    assert rule["resources"]["overrides"]["namespace"]["resource"] == "namespace"
    assert "<<.Series>>" in rule["metricsQuery"] and "<<.LabelMatchers>>" in rule["metricsQuery"]


def test_pdb_never_blocks_a_single_replica_forever():
    spec = find("PodDisruptionBudget", "super-agent")["spec"]
    assert spec.get("maxUnavailable") == 1 or spec.get("minAvailable") == 1


# --- security ---------------------------------------------------------------------------------------


def test_pods_are_locked_down():
    sa = find("ServiceAccount", "super-agent")
    assert sa["automountServiceAccountToken"] is False
    for d in workloads():
        name = d["metadata"]["name"]
        spec = d["spec"]["template"]["spec"]
        assert spec.get("automountServiceAccountToken") is False, name
        assert spec.get("enableServiceLinks") is False, f"{name}: service links would inject SUPER_AGENT_* variables"
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] > 0, name
        assert psc["seccompProfile"]["type"] == "RuntimeDefault", name
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add"), name
            assert sc.get("privileged", False) is False, name
            assert "resources" in c and c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"], name
            for m in c.get("volumeMounts", []):
                v = volumes[m["name"]]
                assert m.get("readOnly") or "emptyDir" in v, f"{name}: writable mount {m['mountPath']} is not an emptyDir"
    assert pool_deployment()["spec"]["template"]["spec"]["serviceAccountName"] == "super-agent"
    assert pool_container()["securityContext"]["runAsUser"] == containerfile_uid()
    assert pool_deployment()["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == containerfile_uid()


def network_policy_ports(rule: dict) -> set[tuple[str, int]]:
    return {(p.get("protocol", "TCP"), p["port"]) for p in rule.get("ports", [])}


def test_pool_network_policy():
    np = find("NetworkPolicy", "super-agent")["spec"]
    assert set(np["policyTypes"]) == {"Ingress", "Egress"}
    for rule in np["ingress"]:
        assert network_policy_ports(rule) == {("TCP", 8080)}, "ingress only on the API port"
        assert rule.get("from"), "an ingress rule without `from` admits everyone"
    client_peers = [p for r in np["ingress"] for p in r["from"] if p.get("podSelector", {}).get("matchLabels") == {"super-agent/client": "true"}]
    assert client_peers and all("namespaceSelector" not in p for p in client_peers)
    egress = np["egress"]
    dns = [r for r in egress if network_policy_ports(r) == {("UDP", 53), ("TCP", 53)}]
    assert dns and all(p["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"} for r in dns for p in r["to"])
    redis = [r for r in egress if network_policy_ports(r) == {("TCP", 6379)}]
    assert redis and all(selected_workloads(p["podSelector"]) == ["super-agent-redis"] for r in redis for p in r["to"])
    https = [r for r in egress if network_policy_ports(r) == {("TCP", 443)}]
    assert https
    for r in https:
        for p in r["to"]:
            block = p["ipBlock"]
            net = ipaddress.ip_network(block["cidr"])
            excepted = [ipaddress.ip_network(x) for x in block.get("except", [])]
            if net.version == 4:
                metadata = ipaddress.ip_address("169.254.169.254")
                assert any(metadata in x for x in excepted), "the cloud metadata endpoint must stay unreachable"
    allowed = {("UDP", 53), ("TCP", 53), ("TCP", 6379), ("TCP", 8080), ("TCP", 443)}
    for r in egress:
        assert network_policy_ports(r) and network_policy_ports(r) <= allowed, f"unexpected egress {r}"
        assert r.get("to"), "an egress rule without `to` reaches everything"


def test_redis_is_small_non_root_and_only_reachable_from_the_pool():
    spec = redis_deployment()["spec"]
    assert spec["replicas"] == 1
    (c,) = spec["template"]["spec"]["containers"]
    assert c["resources"]["limits"]["memory"]
    np = find("NetworkPolicy", "super-agent-redis")["spec"]
    assert set(np["policyTypes"]) == {"Ingress", "Egress"} and np.get("egress", []) == []
    (rule,) = np["ingress"]
    assert network_policy_ports(rule) == {("TCP", 6379)}
    assert [selected_workloads(p["podSelector"]) for p in rule["from"]] == [["super-agent"]]
    assert all("namespaceSelector" not in p for p in rule["from"])


# --- Containerfile ---------------------------------------------------------------------------------


@cache
def containerfile_instructions() -> tuple[tuple[str, str], ...]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    out, current = [], ""
    for line in CONTAINERFILE.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        instr, _, rest = current.partition(" ")
        out.append((instr.upper(), rest.strip()))
        current = ""
    assert not current, "Containerfile ends inside a continued line"
    return tuple(out)


def env_assignments(rest: str) -> dict[str, str]:
    return dict(token.split("=", 1) for token in shlex.split(rest))


@cache
def stages() -> tuple[dict, ...]:
    """Each FROM stage: image (ARGs resolved), name, instructions, and its ARG defaults."""
    global_args: dict[str, str] = {}
    result: list[dict] = []
    for instr, rest in containerfile_instructions():
        if instr == "FROM":
            parts = rest.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: global_args[m.group(1) or m.group(2)], parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            result.append({"image": image, "name": name, "instructions": [], "args": {}})
        elif instr == "ARG":
            key, _, default = rest.partition("=")
            (result[-1]["args"] if result else global_args)[key] = default
        else:
            assert result, f"{instr} before the first FROM"
            result[-1]["instructions"].append((instr, rest))
    return tuple(result)


def runs(stage: dict) -> str:
    return "\n".join(rest for instr, rest in stage["instructions"] if instr == "RUN")


def apt_packages(stage: dict) -> set[str]:
    packages = set()
    for command in re.split(r"&&|;|\n", runs(stage)):
        words = command.split()
        if "apt-get" in words and "install" in words:
            packages |= {w for w in words[words.index("install") + 1:] if not w.startswith("-")}
    return packages


def final_stage() -> dict:
    return stages()[-1]


def instruction(stage: dict, name: str) -> list[str]:
    return [rest for instr, rest in stage["instructions"] if instr == name]


def containerfile_uid() -> int:
    (user,) = instruction(final_stage(), "USER")
    uid = user.split(":")[0]
    assert uid.isdigit(), f"USER {user}: use a numeric uid so Kubernetes can verify runAsNonRoot"
    return int(uid)


# systemLibrary targets whose library is dlopen'ed on first use (see their shim.h): target -> pkg-config module.
DLOPENED = {"CCurl": "libcurl", "CMicroHTTPD": "libmicrohttpd"}


@cache
def package_swift_modules() -> dict[str, list[str]]:
    """pkg-config module -> apt providers, from Package.swift's systemLibrary targets."""
    text = (ROOT / "Package.swift").read_text()
    modules = {}
    for m in re.finditer(r"\.systemLibrary\((.*?)\)\s*,?\s*\n", text, re.S):
        body = m.group(1)
        pc = re.search(r'pkgConfig:\s*"([^"]+)"', body)
        name = re.search(r'name:\s*"([^"]+)"', body)
        if not pc and name and name.group(1) in DLOPENED:
            # Opened with dlopen at first use rather than linked: the package is still needed at run time.
            pc = re.match(r"(.*)", DLOPENED[name.group(1)])
        if pc:
            apt = re.search(r"\.apt\(\[([^\]]*)\]\)", body)
            modules[pc.group(1)] = re.findall(r'"([^"]+)"', apt.group(1)) if apt else []
    assert modules, "no pkg-config modules found in Package.swift"
    return modules


def test_containerfile_stages_user_and_entrypoint():
    all_stages = stages()
    assert len(all_stages) >= 2, "multi-stage: build and runtime"
    build = next(s for s in all_stages if s["name"] == "build")
    assert re.fullmatch(r"swift:6\.\d+(\.\d+)?-bookworm", build["image"]), build["image"]
    assert re.search(r"swift build -c release --static-swift-stdlib", runs(build))
    final = final_stage()
    assert final["image"] == "debian:bookworm-slim"
    uid = containerfile_uid()
    assert uid >= 1000, "the runtime user must be a non-root numeric uid (runAsNonRoot needs a number)"
    assert uid == 10001
    assert json.loads(instruction(final, "ENTRYPOINT")[-1]) == ["super-agent"]
    cmd = json.loads(instruction(final, "CMD")[-1])
    assert cmd == ["pool"] and cmd[0] in commands()
    assert any(c.startswith("--from=build ") for c in instruction(final, "COPY"))
    exposed = {int(p.split("/")[0]) for e in instruction(final, "EXPOSE") for p in e.split()}
    assert exposed == {int(default_config()["pool"]["listen"].rsplit(":", 1)[1])}


def test_containerfile_apt_packages_match_package_swift():
    build = next(s for s in stages() if s["name"] == "build")
    build_pkgs, runtime_pkgs = apt_packages(build), apt_packages(final_stage())
    modules = package_swift_modules()
    for module, providers in modules.items():
        assert module in MODULE_RUNTIME_PACKAGE, f"no runtime package known for pkg-config module {module}; add it here"
        assert set(providers) <= build_pkgs, f"build stage lacks {providers} for {module}"
        assert MODULE_RUNTIME_PACKAGE[module] in runtime_pkgs, f"runtime stage lacks {MODULE_RUNTIME_PACKAGE[module]} for {module}"
    for module, package in MODULE_RUNTIME_PACKAGE.items():
        if package in runtime_pkgs:
            assert module in modules, f"{package} installed for {module}, which Package.swift does not use"
    assert "ca-certificates" in runtime_pkgs
    assert not {p for p in runtime_pkgs if p.endswith("-dev")}, "no -dev packages at run time"


def elf_needed(path: str) -> list[str]:
    """DT_NEEDED entries of a 64-bit little-endian ELF file (what the dynamic loader must find)."""
    data = binary_bytes() if path == binary() else Path(path).read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "expected a 64-bit little-endian ELF"
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    for _name, sh_type, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
        if sh_type != 6:  # SHT_DYNAMIC
            continue
        strtab = sections[link]
        names = []
        for j in range(size // entsize):
            tag, val = struct.unpack_from("<qQ", data, offset + j * entsize)
            if tag == 0:
                break
            if tag == 1:  # DT_NEEDED
                start = strtab[4] + val
                names.append(data[start:data.index(b"\0", start)].decode())
        return names
    return []


def test_runtime_packages_provide_every_library_the_binary_links():
    needed = [n for n in elf_needed(binary()) if not BASE_LIBRARIES.search(n)]
    assert needed, "the binary links no system libraries? (parser broken)"
    if not shutil.which("dpkg-query"):
        pytest.skip("dpkg-query not available: cannot map libraries to Debian packages on this machine")
    runtime = apt_packages(final_stage())
    for soname in needed:
        out = subprocess.run(["dpkg-query", "-S", f"*/{soname}"], capture_output=True, text=True)
        assert out.returncode == 0, f"no Debian package owns {soname}: {out.stderr}"
        owners = {line.split(":")[0] for line in out.stdout.splitlines() if line.strip()}
        assert owners & runtime, f"{soname} (from {sorted(owners)}) is not installed in the runtime stage"


def test_containerfile_installs_pinned_agent_clis_for_the_adapters():
    text = "\n".join(runs(s) for s in stages())
    assert re.search(r"npm (install|i) -g", text)
    pinned = {}
    for stage in stages():
        for pkg, var in re.findall(r'"?(@[\w.-]+/[\w.-]+)@\$\{(\w+)\}"?', runs(stage)):
            default = stage["args"].get(var, "")
            assert re.fullmatch(r"\d+\.\d+\.\d+", default), f"{pkg} is not pinned: ARG {var}={default!r}"
            pinned[pkg] = default
    programs = {a["argv"][0] for a in default_config()["adapters"].values()}
    for program in programs - {"sh"}:
        assert CLI_PACKAGES.get(program) in pinned, f"adapter program {program} has no pinned npm package"
    assert set(pinned) == set(CLI_PACKAGES.values())
    final = final_stage()
    path = env_assignments(" ".join(instruction(final, "ENV")))["PATH"]
    assert "/opt/agents/bin" in path.split(":")
    assert any("/usr/local/bin/node" in c for c in instruction(final, "COPY"))


def test_containerfile_state_dirs_match_the_manifests():
    env = env_assignments(" ".join(instruction(final_stage(), "ENV")))
    deploy = {e["name"]: e.get("value") for e in container_env(pool_container())}
    for name in ("SUPER_AGENT_STATE_DIR", "SUPER_AGENT_WORKSPACE_ROOTS"):
        if name in env:
            assert env[name] == deploy[name], f"{name} differs between the image and the Deployment"
