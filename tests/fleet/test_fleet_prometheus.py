"""A real Prometheus (Debian's `prometheus`) scrapes a running appliance with the shipped rules: the
kiosk's series are queryable and KioskWorkerFlapping fires when a worker is made to flap."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
from harness import ROOT, Appliance, free_port

RULES = ROOT / "firmware-config" / "prometheus" / "rules.yml"
RULES_TEST = ROOT / "firmware-config" / "prometheus" / "rules_test.yml"
DASHBOARD = ROOT / "firmware-config" / "prometheus" / "dashboard.json"
INSTALL = "apt-get install prometheus (./bootstrap does it as root)"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:  # never a silent skip: the fleet promise is tested or the run fails
        pytest.fail(f"{name} is not installed: {INSTALL}")
    return path


def test_shipped_rules_pass_promtool():
    result = subprocess.run([tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_shipped_alert_fires_on_its_series_and_not_on_a_healthy_kiosk():
    """promtool's rule unit tests (firmware-config/prometheus/rules_test.yml): series in, alerts out."""
    result = subprocess.run(
        [tool("promtool"), "test", "rules", str(RULES_TEST)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    names = set(re.findall(r"alertname: (\w+)", RULES_TEST.read_text()))
    assert names == set(re.findall(r"- alert: (\w+)", RULES.read_text()))  # every alert is tested


def test_dashboard_queries_only_series_the_kiosk_exposes():
    """Every kiosk_ metric the dashboard names is one /metrics serves (names checked against the code)."""
    source = "".join(p.read_text() for p in (ROOT / "appliance" / "metrics").glob("*.py"))
    exposed = set(re.findall(r'"(kiosk_[a-z_]+)"', source))
    named = set(re.findall(r"kiosk_[a-z_]+", DASHBOARD.read_text()))
    base = {re.sub(r"_(total|bucket|count|sum|info)$", "", n) for n in named}
    assert named and base <= exposed, base - exposed
    json.loads(DASHBOARD.read_text())


def query(port: int, path: str, **params) -> dict:
    url = f"http://127.0.0.1:{port}{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except OSError as exc:
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"{what} within {timeout}s; last: {last}")


@pytest.fixture
def prometheus(tmp_path):
    """Start Prometheus on a config the test writes; yields (start(target), port)."""
    binary = tool("prometheus")
    port = free_port()
    procs = []

    def start(target: str) -> int:
        config = tmp_path / "prometheus.yml"
        config.write_text(
            json.dumps(
                {  # JSON is YAML
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(RULES)],
                    "scrape_configs": [{"job_name": "kiosk", "static_configs": [{"targets": [target]}]}],
                }
            )
        )
        log = open(tmp_path / "prometheus.log", "wb")
        procs.append(
            subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=log,
            )
        )
        wait_for(lambda: _ready(port), 30, "Prometheus ready")
        return port

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_prometheus_scrapes_the_kiosk_and_a_flapping_worker_fires(prometheus):
    app = Appliance(
        workers="dialogue,gateway", env={"APPLIANCE_SUPERVISOR_RESTART_BUDGET": "20"}
    ).wait_ready()
    try:
        port = prometheus(f"127.0.0.1:{app.ports['metrics']}")
        # the kiosk's series, as the fleet sees them
        up = wait_for(
            lambda: query(port, "/api/v1/query", query='kiosk_worker_up{job="kiosk"}')["data"]["result"],
            30,
            "kiosk_worker_up scraped",
        )
        assert {r["metric"]["worker"] for r in up} == {"dialogue", "gateway"}
        assert all(r["value"][1] == "1" for r in up)
        target = query(port, "/api/v1/targets")["data"]["activeTargets"]
        assert [t["health"] for t in target] == ["up"], target
        # a worker made to flap: killed three times, each time as soon as it is back
        for _ in range(3):
            pid = wait_for(lambda: app.worker_pid("dialogue"), 30, "a dialogue process")
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: app.worker_pid("dialogue") not in (None, pid), 30, "dialogue restarted")

        def flapping():
            return [
                a
                for a in query(port, "/api/v1/alerts")["data"]["alerts"]
                if a["labels"]["alertname"] == "KioskWorkerFlapping" and a["state"] == "firing"
            ]

        alerts = wait_for(flapping, 60, "KioskWorkerFlapping firing")
        assert {a["labels"]["worker"] for a in alerts} == {"dialogue"}
        assert {a["labels"]["reason"] for a in alerts} == {"died"}
        rules = query(port, "/api/v1/rules")["data"]["groups"]
        assert {r["name"] for g in rules for r in g["rules"]} >= {
            "KioskWorkerFlapping",
            "KioskClockSkew",
            "KioskOutboxBacklog",
            "KioskDiskNearlyFull",
        }
    finally:
        app.stop()
