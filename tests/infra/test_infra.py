"""The deployment files agree with the code: settings, topics, consumer groups, commands, ports."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from services.cli import build_parser
from shared.events import STAGES, consumer_group, requests_topic
from shared.settings import Settings
from tests.infra.kustomize import render

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BIN = Path(sys.executable).parent


class _ComposeLoader(yaml.SafeLoader):
    """Compose's `!reset` tag clears a value inherited from the base file."""


_ComposeLoader.add_constructor("!reset", lambda loader, node: None)


def _compose(name: str) -> dict:
    return yaml.load((INFRA / "compose" / name).read_text(), Loader=_ComposeLoader)


def _setting_names() -> set[str]:
    return {f"FACECAST_{name.upper()}" for name in Settings.model_fields}


def test_every_yaml_file_parses():
    files = list(INFRA.rglob("*.yml")) + list(INFRA.rglob("*.yaml"))
    assert len(files) >= 15
    for path in files:
        docs = list(yaml.load_all(path.read_text(), Loader=_ComposeLoader))
        assert docs and all(d is not None for d in docs), path


def test_compose_environment_exists_in_settings():
    compose = _compose("docker-compose.yml")
    known = _setting_names()
    for name, service in compose["services"].items():
        for var in (service.get("environment") or {}):
            if var.startswith("FACECAST_"):
                assert var in known, f"{name}: {var} is not a Settings field"


def test_compose_runs_every_stage_with_a_gpu_and_the_cpu_override_removes_it():
    compose = _compose("docker-compose.yml")
    override = _compose("docker-compose.cpu.yml")
    parser = build_parser()
    for stage in STAGES:
        service = compose["services"][stage]
        assert service["command"] == [stage]
        assert service["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
        assert override["services"][stage]["deploy"] is None
        assert parser.parse_args(["worker", *service["command"]]).stage == stage
    assert {"kafka", "minio", "postgres", "prometheus", "grafana", "gateway", "init"} <= set(compose["services"])


@pytest.mark.parametrize("overlay", ["base", "overlays/dev", "overlays/gpu"])
def test_kustomize_output_matches_the_workers(overlay):
    docs = render(INFRA / "k8s" / overlay)
    by_kind: dict[str, dict[str, dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    known = _setting_names()
    config = by_kind["ConfigMap"]["facecast-config"]["data"]
    assert set(config) <= known
    for stage in STAGES:
        deployment = by_kind["Deployment"][f"facecast-{stage}"]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == [stage]
        assert {e["name"] for e in container.get("env", [])} <= known
        assert container["ports"][0]["containerPort"] == int(config["FACECAST_WORKER_PORT"])
        trigger = by_kind["ScaledObject"][f"facecast-{stage}"]["spec"]["triggers"][0]["metadata"]
        assert trigger["topic"] == requests_topic(stage)
        assert trigger["consumerGroup"] == consumer_group(stage)
        scaled = by_kind["ScaledObject"][f"facecast-{stage}"]["spec"]
        assert scaled["maxReplicaCount"] <= 6, "more replicas than partitions would idle"
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 120
        if overlay == "overlays/gpu":
            assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
            assert scaled["minReplicaCount"] == 0
        assert f"facecast-{stage}" in by_kind["PodDisruptionBudget"]
    gateway = by_kind["Deployment"]["facecast-gateway"]["spec"]["template"]["spec"]["containers"][0]
    assert gateway["envFrom"][1]["secretRef"]["name"] == "facecast-secrets"
    assert "Secret" not in by_kind, "secrets are referenced, never inlined"
    assert "facecast-gateway" in by_kind["HorizontalPodAutoscaler"]


def test_network_policies_keep_stages_away_from_postgres():
    docs = render(INFRA / "k8s" / "base")
    stages = next(d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "facecast-stages")
    ports = {p["port"] for rule in stages["spec"]["egress"] for p in rule.get("ports", [])}
    assert ports == {53, 9092, 9000}


def test_dockerfiles_run_commands_that_exist():
    parser = build_parser()
    for name in ("Dockerfile.cpu", "Dockerfile.cuda", "Dockerfile.gateway"):
        text = (INFRA / "docker" / name).read_text()
        assert "USER 10001" in text and "HEALTHCHECK" in text
        assert "requirements/lock.txt" in text
        if "gateway" not in name:
            assert 'ENTRYPOINT ["facecast", "worker"]' in text
            parser.parse_args(["worker", "swapper"])
        else:
            assert 'ENTRYPOINT ["facecast", "gateway"]' in text
            parser.parse_args(["gateway"])


def test_dockerfiles_pass_hadolint():
    result = subprocess.run([str(BIN / "hadolint"), *sorted(str(p) for p in (INFRA / "docker").glob("Dockerfile.*"))],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shell_scripts_pass_shellcheck():
    scripts = [ROOT / ".ci" / "run", *ROOT.glob("infra/**/*.sh"), *ROOT.glob("tests/**/*.sh")]
    shellcheck = BIN / "shellcheck"
    assert shellcheck.exists() or shutil.which("shellcheck")
    result = subprocess.run([str(shellcheck), *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_reference_metrics_the_code_exports():
    from shared import telemetry  # noqa: F401  registers the stage metrics
    from prometheus_client import REGISTRY

    exported = {m.name for m in REGISTRY.collect()}
    rules = yaml.safe_load((INFRA / "prometheus" / "rules.yml").read_text())["groups"][0]["rules"]
    alerts = {r["alert"] for r in rules}
    assert {"FaceCastDeadLettersGrowing", "FaceCastConsumerLagHigh", "FaceCastWebhookFailureRate",
            "FaceCastStageErrorRate", "FaceCastStageLatencyP99High"} <= alerts
    for metric in ("facecast_events_dead_lettered", "facecast_events_failed", "facecast_events_consumed",
                   "facecast_stage_latency_seconds", "facecast_webhook_deliveries"):
        assert metric in exported, metric
        assert any(metric in r["expr"] for r in rules)


def test_topic_plan_covers_every_topic_the_code_uses():
    from services.ops import topic_plan
    from shared.events import JOB_EVENTS_TOPIC, dlq_topic

    plan = topic_plan(6, ["swapper=12"])
    assert plan[requests_topic("swapper")] == 12 and plan[requests_topic("makeup")] == 6
    assert {requests_topic(s) for s in STAGES} | {dlq_topic(s) for s in STAGES} | {JOB_EVENTS_TOPIC} == set(plan)
    with pytest.raises(SystemExit):
        topic_plan(6, ["painter=3"])


def test_capacity_model_scales_with_load_and_drains_after_the_peak():
    sys.path.insert(0, str(INFRA / "capacity"))
    import simulate

    profile = simulate.diurnal_profile(10.0)
    assert abs(sum(profile) / 24 - 1) < 1e-9 and max(profile) / min(profile) == pytest.approx(10.0)
    small = {p.stage: p.replicas_at_peak for p in simulate.plan(1_000, simulate.CPU_RATES, 10.0)}
    large = {p.stage: p.replicas_at_peak for p in simulate.plan(10_000, simulate.CPU_RATES, 10.0)}
    assert all(large[s] > small[s] for s in small if s != "makeup")
    day = simulate.simulate_day(2_000, simulate.CPU_RATES, 10.0, max_replicas={"swapper": 64, "enhancer": 64, "makeup": 64})
    for stage, hours in day.items():
        assert hours[3][1] < 50, f"{stage} should have no backlog at night"
    starved = simulate.simulate_day(2_000, simulate.CPU_RATES, 10.0, max_replicas={"swapper": 1, "enhancer": 1, "makeup": 1})
    assert max(h[1] for h in starved["enhancer"]) > 1_000, "one slow replica cannot keep up with the peak"


def test_the_init_job_runs_commands_that_exist():
    command = _compose("docker-compose.yml")["services"]["init"]["command"][0]
    invocations = [part.strip().split("||")[0].split() for part in command.split("&&")]
    parser = build_parser()
    assert [words[:2] for words in invocations] == [["facecast", "topics"], ["facecast", "models"],
                                                    ["facecast", "gateway"]]
    for words in invocations:
        parser.parse_args([w.replace("${FACECAST_PARTITIONS:-6}", "6") for w in words[1:]])


def test_gateway_migrate_only_creates_the_schema(tmp_path):
    import sqlite3

    env = {**__import__("os").environ, "FACECAST_DATA_DIR": str(tmp_path)}
    result = subprocess.run([str(BIN / "facecast"), "gateway", "--migrate-only"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    tables = {r[0] for r in sqlite3.connect(tmp_path / "facecast.db").execute("select name from sqlite_master")}
    assert {"jobs", "tenants", "virtual_models", "alembic_version"} <= tables


# metrics that an exporter, not FaceCast, provides → the compose service that runs it
EXPORTER_METRICS = {"kafka_consumergroup_lag": "kafka-exporter"}
_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                 "offset"}


def promql_metrics(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords, label names
    (inside `{…}` or `by (…)`) or durations (inside `[…]`)."""
    import re

    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", " ", expr)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        rest = expr[match.end():].lstrip()
        if not rest.startswith("(") and match.group() not in _PROMQL_WORDS:
            names.add(match.group())
    return names


def test_promql_metrics_finds_only_metric_names():
    assert promql_metrics('histogram_quantile(0.99, sum by (stage, le) (rate(a_b_bucket{x="y"}[5m]))) > 1e-9') == {"a_b_bucket"}
    assert promql_metrics("sum(rate(x_total[1m])) / clamp_min(sum(rate(y_total[1m])), 1e-9)") == {"x_total", "y_total"}


def _image_env(compose: dict, image: str) -> dict[str, str]:
    """The ENV a FaceCast image's Dockerfile sets (found through the compose service that builds it)."""
    import shlex

    for service in compose.values():
        if service.get("image") == image and "build" in service:
            dockerfile = (INFRA / "compose" / service["build"]["context"] / service["build"]["dockerfile"]).resolve()
            env = {}
            for line in dockerfile.read_text().splitlines():
                if line.startswith("ENV "):
                    env.update(word.split("=", 1) for word in shlex.split(line[4:]) if "=" in word)
            return env
    raise AssertionError(f"no compose service builds {image}")


def _listening_port(compose: dict, name: str) -> int | None:
    """The port a compose service serves metrics on: FaceCast's from its settings (the image's ENV, then the
    service's environment; only when bound to all interfaces), an exporter's from its --web.listen-address."""
    service = compose[name]
    if service.get("image", "").startswith("facecast/"):
        env = {**_image_env(compose, service["image"]), **(service.get("environment") or {})}
        if env.get("FACECAST_HOST") != "0.0.0.0":
            return None  # 127.0.0.1 (the default) is unreachable from the Prometheus container
        port = env.get("FACECAST_WORKER_PORT") if service.get("command") else env.get("FACECAST_PORT")
        return int(port) if port and int(port) else None
    for arg in service.get("command") or []:
        if arg.startswith("--web.listen-address="):
            return int(arg.rsplit(":", 1)[1])
    return None


def test_every_scrape_target_and_every_alert_and_dashboard_metric_exists_in_the_compose_deployment():
    import json

    from prometheus_client import REGISTRY

    import services.gateway.app  # noqa: F401  registers the gateway's metrics beside the stages'

    compose = _compose("docker-compose.yml")["services"]
    scrape = yaml.safe_load((INFRA / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    scraped: set[str] = set()
    for job in scrape:
        for target in (t for config in job["static_configs"] for t in config["targets"]):
            host, port = target.rsplit(":", 1)
            assert host in compose, f"{job['job_name']} scrapes {target}, but compose defines no {host!r}"
            assert _listening_port(compose, host) == int(port), f"{host} does not serve metrics on {port}"
            scraped.add(host)
    assert set(STAGES) | {"gateway", "kafka-exporter"} <= scraped

    exprs = [r["expr"] for group in yaml.safe_load((INFRA / "prometheus" / "rules.yml").read_text())["groups"]
             for r in group["rules"]]
    dashboard = json.loads((INFRA / "grafana" / "dashboards" / "facecast.json").read_text())
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(exprs) >= 14
    ours = set(REGISTRY._names_to_collectors)  # every sample name, with _total/_bucket/_sum/_count
    used = set().union(*map(promql_metrics, exprs))
    assert "kafka_consumergroup_lag" in used and "facecast_stage_latency_seconds_bucket" in used
    for metric in used:
        if metric.startswith("facecast_"):
            assert metric in ours, f"{metric} is not a metric FaceCast exports"
        else:
            service = EXPORTER_METRICS.get(metric)
            assert service in compose and service in scraped, f"nothing in the deployment exports {metric}"
