"""runtime/protocol.py and the worker base: typed control messages, one registry, op names in one
place, attributes set before setup, and a warm spare that waits for its promotion."""

import os
import signal
import subprocess
import sys
import tempfile
import textwrap

import pytest
import zmq

from appliance import config
from appliance.config import sections
from appliance.runtime import bus, endpoints
from appliance.runtime.protocol import ExitCode, Heartbeat, Kind, WorkerState
from appliance.workers import REGISTRY, ops, worker_class

OPS = {
    "camera": ops.Camera,
    "dialogue": ops.Dialogue,
    "face": ops.Face,
    "liveness": ops.Liveness,
    "speech": ops.Speech,
    "sync": ops.Sync,
}


def test_the_wire_values_do_not_change():
    assert [
        int(c)
        for c in (
            ExitCode.OK,
            ExitCode.FAIL,
            ExitCode.USAGE,
            ExitCode.BUDGET,
            ExitCode.START,
            ExitCode.WORKER_CONFIG,
        )
    ] == [0, 1, 2, 3, 4, 78]
    assert [str(s) for s in WorkerState] == ["starting", "ready", "backoff", "stopped"]
    assert {str(k) for k in Kind} == {"ready", "heartbeat", "fatal", "spare"}


def test_a_heartbeat_reads_what_it_can_and_zero_for_the_rest():
    beat = Heartbeat.of({"inflight": 2, "handled": "many", "rss": True, "oldest": 1.5, "status": [1]})
    assert beat == Heartbeat(inflight=2, handled=0, rss=0, oldest=1.5, status={})
    assert Heartbeat.of(beat.fields()) == beat


def test_the_known_workers_are_the_registry():
    assert sections.KNOWN_WORKERS == tuple(REGISTRY) == sections.DEFAULT_WORKERS
    assert set(sections.DEFAULT_SPARES) <= set(REGISTRY)
    with pytest.raises(config.ConfigError):
        config.load(environ={"APPLIANCE_SUPERVISOR_SPARES": "speech,nobody"})


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_worker_answers_exactly_its_named_ops_and_reports_status_before_setup(name):
    settings = config.load(environ={"APPLIANCE_PATHS_RUNTIME_DIR": tempfile.mkdtemp(prefix="ka-o-")})
    worker = worker_class(name)(settings)  # no prepare, no setup: nothing loaded yet
    assert set(worker.handlers()) == {str(op) for op in OPS[name]}
    assert isinstance(worker.status(), dict)  # attributes exist from __init__: no hasattr guard needed
    worker.peers.close()


SPARE = textwrap.dedent("""
    import sys
    from appliance import config
    from appliance.runtime.worker import ServiceWorker

    class Echo(ServiceWorker):
        name = "dialogue"
        def prepare(self):
            self.loaded = "models"
        def setup(self):
            print("setup", flush=True)
        def ops(self):
            return {"echo": lambda header, payloads: {"loaded": self.loaded}}

    sys.exit(Echo(config.load()).run(spare=True))
""")


def test_a_spare_loads_waits_and_serves_once_promoted():
    run = tempfile.mkdtemp(prefix="ka-s-")
    ctx = zmq.Context()
    control = ctx.socket(zmq.PULL)
    control.bind(endpoints.supervisor_control(run))
    env = {**os.environ, "APPLIANCE_PATHS_RUNTIME_DIR": run, "APPLIANCE_SUPERVISOR_HEARTBEAT_INTERVAL": "0.1"}
    proc = subprocess.Popen([sys.executable, "-c", SPARE], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert control.poll(30_000)
        first, _ = bus.decode(control.recv_multipart())
        assert first["kind"] == Kind.SPARE and first["pid"] == proc.pid
        assert not control.poll(600), "a spare must say nothing more until promoted"
        client = bus.BusClient(endpoints.worker_requests(run, "dialogue"), timeout=5)
        with pytest.raises(bus.WorkerUnavailable):  # not serving: the worker it stands in for may be
            client.request("echo")
        proc.send_signal(signal.SIGUSR1)
        assert control.poll(10_000)
        ready, _ = bus.decode(control.recv_multipart())
        assert ready["kind"] == Kind.READY
        assert client.request("echo")[0]["loaded"] == "models"
        assert client.request("status")[0]["ok"]  # every worker answers `status`
        client.close()
    finally:
        proc.kill()
        proc.wait()
        control.close(0)
        ctx.term()
    assert proc.stdout.read().count("setup") == 1
