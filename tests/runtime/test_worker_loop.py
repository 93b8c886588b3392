"""The ServiceWorker loop in a real process, with the test as a fake supervisor."""

import subprocess
import sys
import textwrap
import time

import pytest
import zmq

from appliance.runtime import bus, endpoints

WORKER = textwrap.dedent("""
    import os, sys, threading, time
    from appliance import config
    from appliance.runtime.worker import ServiceWorker, HandlerError

    class Echo(ServiceWorker):
        name = "dialogue"   # any registered name; the socket name follows it
        threads = int(os.environ.get("ECHO_THREADS", "4"))
        def __init__(self, settings):
            super().__init__(settings)
            self.gate, self.holding, self.marks = threading.Event(), threading.Event(), 0
        def ops(self):
            return {"echo": self.echo, "fail": self.fail, "crash": self.crash, "slow": self.slow,
                    "hold": self.hold, "release": self.release, "mark": self.mark,
                    "boom": self.crash, "refuse": self.fail}
        def inline_ops(self):
            return super().inline_ops() | {"release", "mark", "boom", "refuse"}
        def status(self):
            return {"holding": self.holding.is_set(), "marks": self.marks}
        def hold(self, header, payloads):  # a long model call: until `release` (or 30 s)
            self.holding.set()
            released = self.gate.wait(30)
            self.holding.clear()
            return {"released": released}
        def release(self, header, payloads):
            self.gate.set()
            return {}
        def mark(self, header, payloads):
            self.marks += 1
            return {"marks": self.marks}
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
def worker(request):
    """The Echo worker; ``@pytest.mark.parametrize("worker", [{ENV: value}], indirect=True)`` adds
    environment variables (ECHO_THREADS: its handler threads)."""
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
        **getattr(request, "param", {}),
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


# -- ops answered on the loop thread (inline_ops) --------------------------------------------------
ONE_THREAD = pytest.mark.parametrize("worker", [{"ECHO_THREADS": "1"}], indirect=True)


class Dealer:
    """A bare DEALER: several requests in flight, replies read in the order they come."""

    def __init__(self, endpoint: str):
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)

    def send(self, req_id: str, op: str, **fields) -> None:
        fields.setdefault(bus.EXPIRES, time.time() + 60)
        self.sock.send_multipart(bus.encode({"id": req_id, "op": op, **fields}))

    def reply(self, timeout_ms: int = 10_000) -> dict:
        assert self.sock.poll(timeout_ms), "no reply"
        return bus.decode(self.sock.recv_multipart())[0]

    def ask(self, req_id: str, op: str, **fields) -> dict:
        self.send(req_id, op, **fields)
        reply = self.reply()
        assert reply["id"] == req_id
        return reply

    def close(self) -> None:
        self.sock.close(0)


def _hold_the_only_thread(dealer: Dealer) -> None:
    """A `hold` running on the pool's one thread (`status` says so: status is answered meanwhile)."""
    dealer.send("hold", "hold")
    for i in range(500):
        if dealer.ask(f"s{i}", "status")["holding"]:
            return
        time.sleep(0.01)
    raise AssertionError("the hold never started")


@ONE_THREAD
def test_status_is_answered_while_every_handler_thread_is_busy(worker):
    """The pool's only thread is in a long call and the queue is full (max_inflight 2): a pooled op
    is `busy`, `status` is answered at once, from the loop thread. (Before inline ops, status
    waited in the pool's queue or was refused as busy.)"""
    dealer = Dealer(worker[2])
    try:
        _hold_the_only_thread(dealer)
        dealer.send("queued", "echo", text="x")  # in flight: waits behind the hold
        dealer.send("refused", "echo", text="y")
        dealer.send("status", "status")
        replies = [dealer.reply(), dealer.reply()]
        assert [r["id"] for r in replies] == ["refused", "status"]
        assert replies[0]["error"] == "busy"
        assert replies[1] == {"id": "status", "ok": True, "holding": True, "marks": 0}
        dealer.send("release", "release")  # inline too: the hold ends, then the queued echo runs
        assert [dealer.reply()["id"] for _ in range(3)] == ["release", "hold", "queued"]
    finally:
        dealer.close()


@ONE_THREAD
def test_an_inline_op_that_fails_is_an_answer_and_the_worker_goes_on(worker):
    dealer = Dealer(worker[2])
    try:
        _hold_the_only_thread(dealer)  # the answers below cannot have come from the pool
        boom = dealer.ask("boom", "boom")
        assert boom["ok"] is False and boom["error"] == "internal" and "ZeroDivisionError" in boom["reason"]
        refused = dealer.ask("refuse", "refuse")
        assert refused == {
            "id": "refuse",
            "ok": False,
            "error": "bad_data",
            "reason": "that is not a number",
            "field": "phone",
        }
        assert dealer.ask("mark", "mark") == {"id": "mark", "ok": True, "marks": 1}
        dealer.ask("release", "release")
        assert dealer.reply()["id"] == "hold"
    finally:
        dealer.close()
    client = bus.BusClient(worker[2], timeout=5)
    assert client.request("echo", {"text": "still here"})[0]["text"] == "still here"


def test_an_inline_request_its_caller_stopped_waiting_for_is_not_run(worker):
    dealer = Dealer(worker[2])
    try:
        late = dealer.ask("late", "mark", **{bus.EXPIRES: time.time() - 1})
        assert late == {"id": "late", "ok": False, "error": "timeout", "reason": "the caller stopped waiting"}
        assert dealer.ask("status", "status")["marks"] == 0  # `mark` never ran
        assert dealer.ask("on-time", "mark")["marks"] == 1
    finally:
        dealer.close()


@ONE_THREAD
def test_ordinary_ops_still_go_through_the_pool_and_a_slow_one_does_not_stop_the_loop(worker):
    """With one handler thread, an echo sent after a hold is answered after it (it waited for the
    pool), while heartbeats (from the loop) go on reporting the hold in flight."""
    _, control, endpoint = worker
    dealer = Dealer(endpoint)
    try:
        _hold_the_only_thread(dealer)
        dealer.send("echo", "echo", text="x")
        for _ in range(500):  # the loop is not blocked: heartbeats keep coming, counting both requests
            assert control.poll(5000), "the heartbeats stopped"
            beat, _ = bus.decode(control.recv_multipart())
            if beat["inflight"] == 2:
                break
        else:
            raise AssertionError("no heartbeat counted the hold and the echo in flight")
        assert beat["status"]["holding"] is True
        dealer.send("release", "release")
        replies = [dealer.reply() for _ in range(3)]
        assert [r["id"] for r in replies] == ["release", "hold", "echo"]
        assert replies[1]["released"] is True and replies[2]["text"] == "x"
    finally:
        dealer.close()


@pytest.mark.parametrize(
    ("workers", "expected"),
    [
        (
            "dialogue,face,liveness,speech,camera,sync,gateway",
            {
                "camera": {"status"},
                "dialogue": {"status"},
                "face": {"status"},  # its closes tell the liveness worker: a bus call, on the pool
                "liveness": {"status", "observe.close"},
                "speech": {"status"},
                "sync": set(),  # its status reads the outbox from the database
            },
        ),
        ("face,gateway", {"face": {"status", "predict.close", "train.close"}}),
    ],
)
def test_the_workers_inline_ops(workers, expected):
    """Which ops each worker answers on its loop thread, none that can block (inline_ops): a new
    one added here is one someone checked."""
    from appliance import config
    from appliance.workers import worker_class

    settings = config.load(environ={"APPLIANCE_SUPERVISOR_WORKERS": workers})
    for name, ops in expected.items():
        worker = worker_class(name)(settings)
        try:
            assert worker.inline_ops() == ops, name
            assert worker.inline_ops() <= set(worker.handlers()), name
        finally:
            worker.peers.close()
            if name == "sync":
                worker.loop.close()
