"""The ServiceWorker loop in a real process, with the test as a fake supervisor."""

import subprocess
import sys
import textwrap
import time

import pytest
import zmq

from appliance.runtime import bus, endpoints

WORKER = textwrap.dedent("""
    import sys, threading, time
    from appliance import config
    from appliance.runtime.worker import ServiceWorker, HandlerError

    class Echo(ServiceWorker):
        name = "dialogue"   # any registered name; the socket name follows it
        threads = 4
        def ops(self):
            return {"echo": self.echo, "fail": self.fail, "crash": self.crash, "slow": self.slow}
        def echo(self, header, payloads):
            return {"text": header["text"]}, [p[::-1] for p in payloads]
        def fail(self, header, payloads):
            raise HandlerError("bad_data", "that is not a number", field="phone")
        def crash(self, header, payloads):
            return 1 / 0
        def slow(self, header, payloads):
            time.sleep(header["seconds"])
            return {}

    sys.exit(Echo(config.load()).run())
""")


@pytest.fixture
def worker(tmp_path_factory):
    import os
    import tempfile

    run = tempfile.mkdtemp(prefix="ka-w-")
    ctx = zmq.Context()
    control = ctx.socket(zmq.PULL)
    control.bind(endpoints.supervisor_control(run))
    env = {
        **os.environ,
        "APPLIANCE_PATHS_RUNTIME_DIR": run,
        "APPLIANCE_LIMITS_MAX_INFLIGHT": "2",
        "APPLIANCE_SUPERVISOR_HEARTBEAT_INTERVAL": "0.1",
    }
    proc = subprocess.Popen([sys.executable, "-c", WORKER], env=env)
    assert control.poll(30_000), "worker never reported"
    first, _ = bus.decode(control.recv_multipart())
    yield proc, control, endpoints.worker_requests(run, "dialogue")
    proc.kill()
    proc.wait()
    control.close(0)
    ctx.term()


def test_ready_then_heartbeats_from_the_loop(worker):
    proc, control, _ = worker
    kinds = []
    for _ in range(3):
        assert control.poll(5000)
        message, _ = bus.decode(control.recv_multipart())
        kinds.append(message["kind"])
        assert message["pid"] == proc.pid
    assert kinds == ["heartbeat"] * 3


def test_request_reply_with_payloads(worker):
    client = bus.BusClient(worker[2], timeout=5)
    header, payloads = client.request("echo", {"text": "你好"}, [b"abc", b"\x00\x01"])
    assert header["ok"] and header["text"] == "你好"
    assert payloads == [b"cba", b"\x01\x00"]


def test_errors_are_answers_not_crashes(worker):
    client = bus.BusClient(worker[2], timeout=5)
    with pytest.raises(bus.RemoteError) as err:
        client.request("fail")
    assert err.value.code == "bad_data" and "number" in err.value.reason
    with pytest.raises(bus.RemoteError) as err:
        client.request("crash")
    assert err.value.code == "internal" and "ZeroDivisionError" in err.value.reason
    with pytest.raises(bus.RemoteError) as err:
        client.request("no-such-op")
    assert err.value.code == "unknown_op"
    assert client.request("echo", {"text": "still here"})[0]["text"] == "still here"


def test_full_queue_answers_busy(worker):
    clients = [bus.BusClient(worker[2], timeout=5) for _ in range(3)]
    import threading

    results = []
    threads = [
        threading.Thread(target=lambda c=c: results.append(c.request("slow", {"seconds": 1.0})))
        for c in clients[:2]
    ]
    for t in threads:
        t.start()
    time.sleep(0.3)  # both slow requests are in flight (max_inflight = 2)
    with pytest.raises(bus.WorkerBusy):
        clients[2].request("echo", {"text": "x"})
    for t in threads:
        t.join()
    assert len(results) == 2


def test_heartbeat_reports_a_long_request(worker):
    proc, control, endpoint = worker
    import threading

    client = bus.BusClient(endpoint, timeout=5)
    t = threading.Thread(target=lambda: client.request("slow", {"seconds": 1.0}))
    t.start()
    oldest = 0.0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and oldest < 0.5:
        message, _ = bus.decode(control.recv_multipart())
        oldest = max(oldest, message.get("oldest", 0.0))
    t.join()
    assert oldest >= 0.5 and message["inflight"] in (0, 1)


def test_a_request_its_caller_stopped_waiting_for_is_not_run(worker):
    """bus.EXPIRES in the past: the worker answers `timeout` without running the handler (an echo
    would have answered ok), so a queue of abandoned requests costs nothing."""
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.connect(worker[2])
    try:
        sock.send_multipart(
            bus.encode({"id": "late", "op": "echo", "text": "x", bus.EXPIRES: time.time() - 1})
        )
        assert sock.poll(5000)
        reply, _ = bus.decode(sock.recv_multipart())
        assert reply == {
            "id": "late",
            "ok": False,
            "error": "timeout",
            "reason": "the caller stopped waiting",
        }
        sock.send_multipart(
            bus.encode({"id": "on-time", "op": "echo", "text": "x", bus.EXPIRES: time.time() + 30})
        )
        assert sock.poll(5000)
        reply, _ = bus.decode(sock.recv_multipart())
        assert reply["ok"] and reply["text"] == "x"
    finally:
        sock.close(0)
