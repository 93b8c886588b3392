"""runtime/peers.py: the one synchronous client to other workers, against a real worker process."""

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading

import pytest
import zmq

from appliance import config
from appliance.gateway import backends
from appliance.runtime import bus, endpoints, peers
from appliance.runtime.peers import NotEnabled, Peers

WORKER = textwrap.dedent("""
    import sys
    from appliance import config
    from appliance.runtime.worker import ServiceWorker

    class Echo(ServiceWorker):
        name = "speech"   # a registered name: the socket follows it
        threads = 4
        def ops(self):
            return {"echo": lambda header, payloads: ({"text": header["text"]}, payloads)}

    sys.exit(Echo(config.load()).run())
""")


@pytest.fixture
def echo():
    run = tempfile.mkdtemp(prefix="ka-p-")
    ctx = zmq.Context()
    control = ctx.socket(zmq.PULL)
    control.bind(endpoints.supervisor_control(run))
    env = {**os.environ, "APPLIANCE_PATHS_RUNTIME_DIR": run}
    proc = subprocess.Popen([sys.executable, "-c", WORKER], env=env)
    assert control.poll(30_000), "worker never reported"
    settings = config.load(
        environ={
            "APPLIANCE_PATHS_RUNTIME_DIR": run,
            "APPLIANCE_SUPERVISOR_WORKERS": "speech,dialogue,gateway",
        }
    )
    yield settings, proc
    proc.kill()
    proc.wait()
    control.close(0)
    ctx.term()


def test_call_reuses_sockets_across_threads_and_closes_them(echo):
    settings, _ = echo
    client = Peers(settings)
    reply, frames = client.call("speech", "echo", {"text": "一"}, [b"x"])
    assert reply["ok"] and reply["text"] == "一" and frames == [b"x"]
    replies = []

    def one(i):
        replies.append(client.call("speech", "echo", {"text": str(i)}))

    threads = [
        threading.Thread(target=one, args=(i,)) for i in range(30)
    ]  # short-lived threads, as the dialogue's audio handshakes are
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(int(r[0]["text"]) for r in replies) == list(range(30))
    assert client.open_sockets() <= 30  # one per concurrent call at most, never one per thread kept for ever
    before = client.open_sockets()
    for _ in range(20):
        client.call("speech", "echo", {"text": "again"})
    assert client.open_sockets() == before  # sequential calls reuse an idle socket
    client.close()
    assert client.open_sockets() == 0


def test_a_worker_not_enabled_fails_at_once_in_the_gateways_words(echo):
    settings, _ = echo
    client = Peers(settings)
    with pytest.raises(NotEnabled) as refused:
        client.call("face", "predict", {})
    assert refused.value.code == "not_enabled"
    assert str(refused.value) == "face recognition is not enabled on this kiosk"
    assert backends.NotEnabled is NotEnabled  # the gateway refuses with the same class and words
    assert not client.enabled("liveness") and client.enabled("speech")
    assert "liveness" in str(NotEnabled("liveness"))


def test_a_dead_worker_is_unavailable_not_a_hang(echo):
    settings, proc = echo
    client = Peers(settings)
    assert client.call("speech", "echo", {"text": "up"})[0]["text"] == "up"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with pytest.raises(bus.BusError) as failed:  # the pooled socket notices: unavailable, never a hang
        client.call("speech", "echo", {"text": "nobody"})
    assert isinstance(failed.value, (bus.WorkerUnavailable, bus.BusTimeout))
    client.close()


def test_timeouts_come_from_one_table():
    s = config.load(environ={"APPLIANCE_TENCENT_TIMEOUT": "7", "APPLIANCE_LIMITS_BUS_TIMEOUT": "9"})
    assert peers.timeout_for(s, "sync") == 7 * 2 + 10  # beyond the sync worker's own wait (2 × timeout + 5)
    assert peers.timeout_for(s, "speech") == 120.0
    assert peers.timeout_for(s, "camera") == 9  # a worker without an entry: limits.bus_timeout
