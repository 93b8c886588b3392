"""The supervisor's recovery: a warm spare takes over a killed worker, the backoff starts over after a
healthy spell and grows only in a crash loop; the gateway's heartbeat carries real figures."""

import os
import re
import signal
import time

WORKERS = "dialogue,gateway"


def worker(app, name: str) -> dict:
    return next(w for w in app.health()["workers"] if w["name"] == name)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def delays(app, name: str) -> list[float]:
    return [
        float(d)
        for d in re.findall(
            rf"{name} died \(exit code -9\); restarting in ([0-9.]+)s",
            (app.dir / "appliance.log").read_text(errors="replace"),
        )
    ]


def test_a_warm_spare_takes_over_and_a_new_one_loads(start_appliance):
    app = start_appliance(workers=WORKERS, env={"APPLIANCE_SUPERVISOR_SPARES": WORKERS}).wait_ready()
    app.wait_healthy()
    loading_at_once = 0
    while worker(app, "dialogue")["spare"] != "warm":  # dialogue's spare, then the gateway's: one at a time
        loading_at_once = max(loading_at_once, sum(w["spare"] == "loading" for w in app.health()["workers"]))
        time.sleep(0.05)
    assert loading_at_once <= 1
    old = worker(app, "dialogue")["pid"]
    spares = {int(p) for p in re.findall(r"dialogue: warm spare ready \(pid (\d+)\)", app.logtext())}
    os.kill(old, signal.SIGKILL)
    health = app.wait_healthy(
        predicate=lambda h: next(w for w in h["workers"] if w["name"] == "dialogue")["pid"] not in (old, None)
    )
    now = next(w for w in health["workers"] if w["name"] == "dialogue")
    assert now["pid"] in spares, "the spare was promoted, not a cold start"
    assert now["restarts"] == 1 and "died" in now["last_exit"]
    assert (
        app.post(
            "/handshake",
            {
                "type": "handshake",
                "user_id": "u1",
                "info": {"name": "李明"},
                "input": {"type": "text", "text": "我要办身份证"},
            },
        )[0]
        == 200
    )
    wait_for(lambda: worker(app, "dialogue")["spare"] == "warm", 120, "the next spare")


def kill_when(app, ready_enough) -> None:
    """kill -9 the dialogue worker once it is ready and `ready_enough`; return when the death is logged."""
    count = len(delays(app, "dialogue"))
    victim = wait_for(
        lambda: (w := worker(app, "dialogue"))["state"] == "ready" and ready_enough(w) and w["pid"],
        120,
        "dialogue ready",
    )
    os.kill(victim, signal.SIGKILL)
    wait_for(
        lambda: len(delays(app, "dialogue")) > count and worker(app, "dialogue")["pid"] != victim,
        30,
        "the death logged and the worker replaced",
    )


def test_the_backoff_starts_over_after_a_healthy_spell_and_grows_in_a_crash_loop(start_appliance):
    app = start_appliance(
        workers=WORKERS,
        env={"APPLIANCE_SUPERVISOR_HEALTHY_AFTER": "1", "APPLIANCE_SUPERVISOR_SPARES": "gateway"},
    ).wait_ready()
    app.wait_healthy()
    for _ in range(3):  # killed again and again, but each time after serving a while: no wait, ever
        kill_when(app, lambda w: w["ready_for"] > 1.5)
    assert delays(app, "dialogue") == [0.0, 0.0, 0.0]
    for _ in range(2):  # killed as soon as it is up: a crash loop, the wait doubles
        kill_when(app, lambda w: True)
    assert delays(app, "dialogue")[3:] == [0.5, 0.5]  # 0.25 × 2, capped at backoff_max (0.5 here)
    assert app.proc.poll() is None


def test_the_gateway_heartbeat_counts_requests(start_appliance):
    app = start_appliance(workers=WORKERS).wait_ready()
    app.wait_healthy()
    for _ in range(5):
        app.health()
    handled = wait_for(
        lambda: worker(app, "gateway")["handled"] >= 5 and worker(app, "gateway")["handled"],
        10,
        "the gateway's count of answered requests",
    )
    assert handled >= 5 and worker(app, "gateway")["rss"] > 10_000_000
