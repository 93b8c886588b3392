"""The real supervisor, its workers and a fake systemd (NOTIFY_SOCKET)."""

import os
import signal
import subprocess
import sys

from harness import ROOT, alive, wait_gone

WORKERS = "dialogue,gateway"


def test_ready_status_and_health(start_appliance):
    app = start_appliance(workers=WORKERS).wait_ready()
    lines = app.notify.lines()
    ready = next(line for line in lines if line == "READY=1")
    assert ready and any(line.startswith("STATUS=") and "2/2 workers ready" in line for line in lines)
    health = app.wait_healthy()
    assert [w["name"] for w in health["workers"]] == ["dialogue", "gateway"]
    assert all(w["state"] == "ready" and w["pid"] for w in health["workers"])
    assert {"tool", "flow_socket", "flow_http"} <= set(health["workers"][1]["status"]["ports"])


def test_kill9_worker_comes_back_and_health_recovers(start_appliance):
    app = start_appliance(workers=WORKERS).wait_ready()
    app.wait_healthy()
    for name in ("dialogue", "gateway"):
        old = app.worker_pid(name)
        os.kill(old, signal.SIGKILL)
        health = app.wait_healthy(
            predicate=lambda h: next(w for w in h["workers"] if w["name"] == name)["pid"] != old
        )
        worker = next(w for w in health["workers"] if w["name"] == name)
        assert worker["restarts"] == 1 and "died" in worker["last_exit"]
    assert app.proc.poll() is None


def test_sigterm_stops_everything_in_reverse_order(start_appliance):
    app = start_appliance(workers=WORKERS).wait_ready()
    app.wait_healthy()
    pids = app.pids()
    assert app.stop() == 0
    assert wait_gone(pids) == []
    assert "STOPPING=1" in app.notify.lines()
    log = app.logtext()
    assert log.index("all workers stopped") > 0


def test_supervisor_killed_leaves_no_orphans(start_appliance):
    app = start_appliance(workers=WORKERS).wait_ready()
    app.wait_healthy()
    pids = app.pids()
    os.kill(app.proc.pid, signal.SIGKILL)
    assert wait_gone(pids) == [], "workers outlived a kill -9 of the supervisor"


def test_watchdog_pings_stop_while_a_worker_is_stuck(start_appliance):
    app = start_appliance(workers=WORKERS, watchdog_usec=400_000).wait_ready()
    app.wait_healthy()
    assert app.notify.wait_for("WATCHDOG=1", 5)
    stuck = app.worker_pid("dialogue")
    os.kill(stuck, signal.SIGSTOP)  # alive but silent: only heartbeats can tell
    app.wait_healthy(predicate=lambda h: h["workers"][0]["pid"] != stuck)
    assert not alive(stuck)
    lines = app.notify.lines()
    # From the status that reports the worker down to the one that reports serving again,
    # the supervisor must not have pinged the watchdog.
    down = next(
        i
        for i, l in enumerate(lines)
        if l.startswith("STATUS=") and ("dialogue backoff" in l or "dialogue starting" in l)
    )
    up = next(
        i for i, l in enumerate(lines) if i > down and l.startswith("STATUS=") and l.endswith("serving")
    )
    assert "WATCHDOG=1" not in lines[down:up]
    assert "WATCHDOG=1" in lines[up:] or app.notify.wait_for("WATCHDOG=1", 5)
    assert "no heartbeat" in next(w for w in app.health()["workers"] if w["name"] == "dialogue")["last_exit"]


def test_restart_budget_exhausted_exits_nonzero(start_appliance):
    app = start_appliance(workers=WORKERS, env={"APPLIANCE_SUPERVISOR_RESTART_BUDGET": "2"}).wait_ready()
    app.wait_healthy()
    for _ in range(3):
        pid = app.worker_pid("dialogue")
        os.kill(pid, signal.SIGKILL)
        if _ < 2:
            app.wait_healthy(predicate=lambda h, pid=pid: h["workers"][0]["pid"] not in (pid, None))
    assert app.proc.wait(30) == 3
    assert any("restart budget exhausted" in l for l in app.notify.lines())


def test_bad_config_fails_at_start_naming_the_key(tmp_path):
    env = {**os.environ, "APPLIANCE_PORTS_FLOW_HTTP": "eighty"}
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "run"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "ports.flow_http" in result.stderr and "'eighty'" in result.stderr
