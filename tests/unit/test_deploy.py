"""The deployment files in deploy/: they parse, they reference what exists, the Helm chart lints
and renders (with Helm's own Go SDK, from the ``helm-python-sdk`` wheel), and the Grafana
dashboard only charts metrics relayflow exports.

``docker compose config`` runs when a Compose CLI is installed (the ``docker compose`` plugin or
Debian's ``docker-compose``, which ``.ci/run`` installs); without one it skips on a laptop and
fails under RELAYFLOW_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from relayflow import metrics
from relayflow.testing.services import require_or_skip

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
CHART = DEPLOY / "helm" / "relayflow"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "relayflow.json"
ROLES = ("api", "webhook", "worker", "scheduler")

# metric names issue #6 adds (the dashboard charts them already); relayflow/metrics.py must
# define exactly these
ISSUE6_METRICS = {
    "relayflow_queue_depth",  # gauge, label shard
    "relayflow_outbox_lag_seconds",  # gauge
    "relayflow_outbox_pending",  # gauge
    "relayflow_leases_held",  # gauge
    "relayflow_worker_busy_ratio",  # gauge 0..1
    "relayflow_executions_crashed_total",  # counter
    "relayflow_jobs_dead_lettered_total",  # counter
}


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _plain_yaml_files() -> list[Path]:
    """Every YAML file of deploy/ except the Helm templates (Go templates, rendered below)."""
    files = [*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")]
    return sorted(p for p in files if "templates" not in p.relative_to(DEPLOY).parts)


@pytest.mark.parametrize("path", _plain_yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_files_parse(path: Path) -> None:
    assert isinstance(_load(path), dict), f"{path} is not a YAML mapping"


# --- docker compose ---------------------------------------------------------------------------


def test_compose_references_existing_files() -> None:
    compose = _load(COMPOSE)
    services = compose["services"]
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = (COMPOSE.parent / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file(), f"{name}: no {build['dockerfile']}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name}: bind mount {source} does not exist"
            else:
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"


def test_compose_services_have_healthchecks_and_roles() -> None:
    services = _load(COMPOSE)["services"]
    required = {*ROLES, "postgres", "rabbitmq", "redis", "prometheus", "grafana"}
    assert required <= set(services)
    for name in required:  # bootstrap is one-shot: it has none
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for role in ROLES:
        assert services[role]["environment"]["ROLE"] == role
        env = services[role]["environment"]
        for var in (
            "RELAYFLOW_DATABASE_URL",
            "RELAYFLOW_AMQP_URL",
            "RELAYFLOW_REDIS_URL",
            "RELAYFLOW_ENCRYPTION_KEY",
        ):
            assert var in env, f"{role} misses {var}"
        assert env["RELAYFLOW_DATABASE_URL"].startswith("postgresql"), "split roles refuse SQLite"
    assert services["scheduler"]["deploy"]["replicas"] == 2
    assert "ports" not in services["worker"], "a fixed host port would stop `--scale worker=N`"
    assert services["worker"]["command"][:3] == ["relayflow", "worker", "--concurrency"]


def test_compose_config_with_the_cli(tmp_path: Path) -> None:
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        cli = ["docker", "compose"]
    elif shutil.which("docker-compose"):
        cli = ["docker-compose"]
    else:
        require_or_skip(
            "docker-compose", "no Compose CLI (docker compose plugin or apt-get install docker-compose)"
        )
    env = {**os.environ, "RELAYFLOW_ENCRYPTION_KEY": "k", "RELAYFLOW_OWNER_PASSWORD": "p"}
    done = subprocess.run([*cli, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    # the required secrets are refused when missing, not defaulted
    env.pop("RELAYFLOW_ENCRYPTION_KEY")
    done = subprocess.run([*cli, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, env=env)
    assert done.returncode != 0
    assert "RELAYFLOW_ENCRYPTION_KEY" in done.stderr


def test_dockerfile_shape() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert re.search(r"apt-get install[^\n]*\bbubblewrap\b[^\n]*\blibseccomp2\b", text)
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    assert 'relayflow start --role \\"$ROLE\\"' in text


def test_prometheus_scrapes_every_role() -> None:
    config = _load(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    job = jobs["relayflow"]
    assert job["metrics_path"] == "/metrics"
    names = {name for sd in job["dns_sd_configs"] for name in sd["names"]}
    assert names == set(ROLES)
    assert all(name in _load(COMPOSE)["services"] for name in names)


# --- Grafana ----------------------------------------------------------------------------------


def _known_metrics() -> set[str]:
    defined = {
        v
        for k, v in vars(metrics).items()
        if k.isupper() and isinstance(v, str) and v.startswith("relayflow_")
    }
    return defined | ISSUE6_METRICS


def _base_name(name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum", "_total"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def test_dashboard_charts_only_known_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\brelayflow_[a-z0-9_]+", e)}
    known = _known_metrics()
    known_bases = {_base_name(n) for n in known}
    unknown = {m for m in used if m not in known and _base_name(m) not in known_bases}
    assert not unknown, f"the dashboard charts metrics nothing exports: {sorted(unknown)}"
    assert used >= ISSUE6_METRICS, f"not charted: {sorted(ISSUE6_METRICS - used)}"
    titles = " | ".join(p["title"] for p in dashboard["panels"])
    for word in (
        "Executions/s",
        "Webhook latency",
        "Queue depth",
        "Outbox",
        "Leases",
        "utilisation",
        "Crashed",
        "circuit",
    ):
        assert word in titles
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_grafana_provisioning_points_at_the_dashboards() -> None:
    provider = _load(DEPLOY / "grafana" / "provisioning" / "dashboards" / "relayflow.yml")
    path = provider["providers"][0]["options"]["path"]
    mounts = _load(COMPOSE)["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{path}:ro" in mounts


# --- Helm -------------------------------------------------------------------------------------

_HELM_SCRIPT = """
import json, sys
import helm_python as helm
helm.disable_logging()
op, chart, values = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
try:
    if op == "lint":
        out = helm.lint(chart, values, strict=True)
    else:
        with helm.Chart.load(chart) as c:
            out = c.render(values, name="rf", namespace="relayflow")
except helm.HelmError as exc:
    out = {"error": str(exc)}
print(json.dumps(out))
"""


def _helm(op: str, values: dict[str, Any]) -> Any:
    """Helm's Go SDK in a child process (a Go runtime and its signal handlers stay out of pytest)."""
    probe = subprocess.run([sys.executable, "-c", "import helm_python"], capture_output=True)
    if probe.returncode != 0:
        require_or_skip("helm-python-sdk", "pip install helm-python-sdk (in the test extra)")
    done = subprocess.run(
        [sys.executable, "-c", _HELM_SCRIPT, op, str(CHART), json.dumps(values)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _ci_values() -> dict[str, Any]:
    values: dict[str, Any] = _load(CHART / "ci" / "test-values.yaml")
    return values


def _manifests(rendered: dict[str, str]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path, text in rendered.items():
        if path.endswith(".txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def test_helm_lint() -> None:
    report = _helm("lint", _ci_values())
    assert report["errors"] == [], report
    assert not [m for m in report["messages"] if m["severity"] >= 2], report


def test_helm_values_referenced_by_templates_exist() -> None:
    values = _load(CHART / "values.yaml")
    refs: set[str] = set()
    for template in (CHART / "templates").iterdir():
        refs |= set(re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", template.read_text()))
    assert refs
    for ref in refs:
        node: Any = values
        for key in ref.strip(".").split("."):
            assert isinstance(node, dict) and key in node, f".Values{ref} is not in values.yaml"
            node = node[key]
    # per-role settings read as `index $.Values $role` then `$cfg.<key>`
    for role in ROLES:
        for key in ("enabled", "replicas", "resources", "pdb"):
            assert key in values[role], f"values.yaml: {role}.{key} missing"
    for role in ("api", "webhook"):
        assert {"service", "autoscaling"} <= set(values[role])


def test_helm_renders_every_role() -> None:
    values = _ci_values()
    docs = _manifests(_helm("render", values))
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in by_kind["Deployment"]}
    assert set(deployments) == set(ROLES)
    defaults = _load(CHART / "values.yaml")
    grace = defaults["shutdownGraceSeconds"]
    config = next(d for d in by_kind["ConfigMap"])
    assert config["data"]["RELAYFLOW_SHUTDOWN_GRACE_S"] == str(grace)
    for role, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert pod["terminationGracePeriodSeconds"] > grace
        assert {"configMapRef", "secretRef"} <= {k for ref in container["envFrom"] for k in ref}
        command = container["command"]
        if role == "worker":
            assert command[-3:] == ["worker", "--concurrency", str(defaults["worker"]["concurrency"])]
        else:
            assert command[-3:] == ["start", "--role", role]
    # autoscaled Deployments leave replicas to the autoscaler; the scheduler runs two
    assert "replicas" not in deployments["api"]["spec"]
    assert "replicas" not in deployments["worker"]["spec"]  # KEDA is on in the ci values
    assert deployments["scheduler"]["spec"]["replicas"] == 2
    assert {h["spec"]["scaleTargetRef"]["name"] for h in by_kind["HorizontalPodAutoscaler"]} == {
        "rf-relayflow-api",
        "rf-relayflow-webhook",
    }
    for hpa in by_kind["HorizontalPodAutoscaler"]:
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    (scaled,) = by_kind["ScaledObject"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "rf-relayflow-worker"
    assert scaled["spec"]["triggers"][0]["type"] == "rabbitmq"
    assert len(by_kind["PodDisruptionBudget"]) == 4
    assert {s["metadata"]["name"] for s in by_kind["Service"]} == {"rf-relayflow-api", "rf-relayflow-webhook"}
    (secret,) = by_kind["Secret"]
    assert set(secret["stringData"]) >= {
        "RELAYFLOW_DATABASE_URL",
        "RELAYFLOW_AMQP_URL",
        "RELAYFLOW_REDIS_URL",
        "RELAYFLOW_ENCRYPTION_KEY",
    }
    (ingress,) = by_kind["Ingress"]
    backends = {
        p["path"]: p["backend"]["service"]["name"] for p in ingress["spec"]["rules"][0]["http"]["paths"]
    }
    assert backends["/webhook/"] == "rf-relayflow-webhook"
    assert backends["/"] == "rf-relayflow-api"


def test_helm_defaults_without_keda_and_with_an_existing_secret() -> None:
    docs = _manifests(_helm("render", {"existingSecret": "mine"}))
    kinds = [d["kind"] for d in docs]
    assert "Secret" not in kinds and "ScaledObject" not in kinds and "Ingress" not in kinds
    worker = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-worker"))
    assert worker["spec"]["replicas"] == 2
    assert worker["spec"]["template"]["spec"]["containers"][0]["envFrom"][1]["secretRef"]["name"] == "mine"


def test_helm_refuses_to_render_without_the_encryption_key() -> None:
    values = _ci_values()
    values["secrets"]["encryptionKey"] = ""
    out = _helm("render", values)
    assert "secrets.encryptionKey" in out.get("error", ""), out


def test_keda_queue_pattern_matches_the_shard_queues_only() -> None:
    # the names of relayflow/cluster/queue_rabbit.py under its default prefix
    pattern = re.compile(_load(CHART / "values.yaml")["worker"]["keda"]["queueNamePattern"])
    for name in ("relayflow.shard.0", "relayflow.shard.15", "relayflow.shard.3.high"):
        assert pattern.search(name), name
    for name in ("relayflow.dead", "relayflow.dlx", "other.shard.1", "relayflow.shard.1.high.x"):
        assert not pattern.search(name), name
