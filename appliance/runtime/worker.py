"""What every worker process shares: control messages to the supervisor and a
request loop on a ROUTER socket.

Heartbeats come from the loop that serves requests, never from a free-running
thread: a worker whose loop is wedged goes quiet and the supervisor restarts
it.  Handlers run on a small thread pool so that a slow model call does not
stop the heartbeat; a request running longer than ``supervisor.stuck_timeout``
is reported in the heartbeat and the supervisor treats the worker as stuck.
The few ops that never block (``inline_ops()``: ``status``, a ``*.close`` that
drops in-memory state) are answered on the loop thread itself: no hand-off to
a pool thread and back, and ``status`` is answered while every handler thread
is busy with a long model call.

Life cycle: ``prepare()`` (models, side-effect free), ``setup()`` (database,
threads, devices), then ``serve()``.  A warm spare (``--spare``, see
supervisor.spares) runs ``prepare()`` ahead of need and waits for SIGUSR1
before it goes on: a killed worker is replaced without a model load.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import logging
import os
import queue
import resource
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import zmq

from ..config import Settings
from . import bus, endpoints, logs
from .peers import Peers
from .protocol import ExitCode, Heartbeat, Kind

log = logging.getLogger(__name__)

Reply = tuple[dict[str, Any], list[bytes]]
Handler = Callable[[dict[str, Any], list[bytes]], "Reply | dict[str, Any]"]

PROMOTE = signal.SIGUSR1
"""The supervisor's word to a warm spare: take over."""
STATUS_OP = "status"
"""Every worker answers it (its figures; some workers say more)."""
_PR_SET_PDEATHSIG = 1


class CannotStart(Exception):
    """Restarting will not help (a port taken by root, a model file missing…): the worker exits
    ExitCode.WORKER_CONFIG after telling the supervisor why, and the supervisor stops."""


class HandlerError(Exception):
    """An expected failure a handler reports to its caller (bad data, unknown hash…)."""

    def __init__(self, code: str, reason: str, **extra: Any):
        super().__init__(reason)
        self.code, self.reason, self.extra = code, reason, extra


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies: no orphans, even
    if the supervisor itself is killed with -9."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: the supervisor's own shutdown still reaps us
        pass
    if os.getppid() == 1:  # parent already gone before prctl took effect
        os._exit(1)


def rss_bytes() -> int:
    """Current resident memory of this process."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Control:
    """PUSH to the supervisor: ready, heartbeat, fatal, spare."""

    def __init__(self, settings: Settings, name: str, ctx: zmq.Context):
        self.name = name
        self._sock = ctx.socket(zmq.PUSH)
        self._sock.setsockopt(zmq.SNDHWM, 10)
        self._sock.setsockopt(zmq.LINGER, 200)
        self._sock.connect(endpoints.supervisor_control(settings.runtime_dir))

    def send(self, kind: Kind, **fields: Any) -> None:
        message = {"kind": str(kind), "worker": self.name, "pid": os.getpid(), "t": time.time(), **fields}
        try:
            self._sock.send_multipart(bus.encode(message), flags=zmq.NOBLOCK)
        except zmq.Again:  # supervisor busy or gone; the next heartbeat will do
            pass

    def beat(self, heartbeat: Heartbeat) -> None:
        self.send(Kind.HEARTBEAT, **heartbeat.fields())

    def close(self) -> None:
        self._sock.close()


class Meter:
    """Requests in flight and answered: the heartbeat's figures (shared with handler threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}
        self.handled = 0

    def begin(self, key: str) -> None:
        with self._lock:
            self._started[key] = time.monotonic()

    def end(self, key: str) -> None:
        with self._lock:
            if self._started.pop(key, None) is not None:
                self.handled += 1

    def count(self) -> None:
        """One request answered on the loop thread (never in flight, so never counted as such)."""
        with self._lock:
            self.handled += 1

    def __len__(self) -> int:
        return len(self._started)

    def heartbeat(self, status: dict[str, Any]) -> Heartbeat:
        with self._lock:
            oldest = min(self._started.values(), default=None)
            inflight = len(self._started)
        return Heartbeat(
            inflight=inflight,
            handled=self.handled,
            rss=rss_bytes(),
            oldest=0.0 if oldest is None else time.monotonic() - oldest,
            status=status,
        )


class ServiceWorker:
    """A worker process. Subclasses set ``name`` and ``ops``; those that serve something
    other than bus requests (the gateway) override ``serve``."""

    name = "worker"
    threads = 1

    def __init__(self, settings: Settings):
        self.settings = settings
        self.ctx: zmq.Context[zmq.Socket] = zmq.Context.instance()
        self._stop = threading.Event()
        self.meter = Meter()
        self.peers = Peers(settings)
        """Calls to other workers (runtime/peers.py)."""

    # -- for subclasses -------------------------------------------------
    def prepare(self) -> None:
        """Load models: slow, and free of side effects (no sockets, threads, devices or database
        writes), because a warm spare runs it while another process is the worker."""

    def setup(self) -> None:
        """Open the database and what the handlers need. Runs when this process becomes the worker,
        and in the CLI when it runs a handler itself because the service is stopped."""

    def start(self) -> None:
        """Background threads and devices (a camera, a feed, a deliverer): only in the service."""

    def ops(self) -> dict[str, Handler]:
        return {}

    def inline_ops(self) -> frozenset[str]:
        """Ops answered on the request loop's own thread instead of the pool: only those that can
        never block — no model call, no database, no network, no lock that a long call holds (a
        lock held for a dict operation is fine). They skip the pool's queue (never ``busy``) and are
        answered while every handler thread is busy; one that blocked would stop the heartbeats, and
        the supervisor would restart the worker as wedged. ``status`` is one by default: ``status()``
        already runs on this thread for every heartbeat. A worker whose ``describe()`` reads the
        database or calls out leaves it out."""
        return frozenset({STATUS_OP})

    def status(self) -> dict[str, Any]:
        """Worker-specific figures carried in every heartbeat."""
        return {}

    def describe(self, _header: dict, _payloads: list[bytes]) -> dict[str, Any]:
        """The answer to the ``status`` op every worker has (by default its heartbeat figures)."""
        return self.status()

    def teardown(self) -> None:
        """Release resources on a clean stop."""

    def handlers(self) -> dict[str, Handler]:
        return {**self.ops(), STATUS_OP: self.describe}

    # -- the life cycle ---------------------------------------------------
    def run(self, spare: bool = False) -> int:
        control = Control(self.settings, self.name, self.ctx)
        try:
            try:  # SIGTERM keeps its default (die) while models load: nothing to save yet
                if spare:
                    signal.pthread_sigmask(signal.SIG_BLOCK, {PROMOTE})  # a promotion during prepare waits
                self.prepare()
                if spare:
                    control.send(Kind.SPARE)
                    signal.sigwait({PROMOTE})
                    log.info("%s spare promoted (pid %d)", self.name, os.getpid())
                self.setup()
                self.start()
            except Exception as exc:  # a worker that cannot start says why, once
                return self._cannot_start(control, exc)
            try:
                self.serve(control)
            except CannotStart as exc:
                return self._cannot_start(control, exc)
            finally:
                self.teardown()
        finally:
            self.peers.close()
            control.close()
        return ExitCode.OK

    def _cannot_start(self, control: Control, exc: Exception) -> int:
        if isinstance(exc, CannotStart):
            log.error("%s cannot start: %s", self.name, exc)
        else:
            log.exception("%s failed to start", self.name)
        reason = str(exc) if isinstance(exc, CannotStart) else f"{type(exc).__name__}: {exc}"
        control.send(Kind.FATAL, reason=reason)
        return ExitCode.WORKER_CONFIG

    def report_ready(self, control: Control) -> None:
        control.send(Kind.READY, status=self.status())
        log.info("%s ready (pid %d)", self.name, os.getpid())

    def serve(self, control: Control) -> None:
        """Answer bus requests until SIGTERM."""
        router = self.ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.setsockopt(zmq.RCVHWM, self.settings.limits.max_inflight * 2)
        router.bind(endpoints.worker_requests(self.settings.runtime_dir, self.name))
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        signal.signal(signal.SIGINT, lambda *_: self._stop.set())
        self.report_ready(control)
        try:
            self._serve(router, control)
        finally:
            router.close(linger=0)

    def _serve(self, router: zmq.Socket, control: Control) -> None:
        handlers = self.handlers()
        inline = self.inline_ops()
        unknown = inline - set(handlers)
        if unknown:  # a typo would silently send the op to the pool
            raise ValueError(f"{self.name}: inline ops {sorted(unknown)} are not ops")
        pool = concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix=self.name)
        done: queue.SimpleQueue = queue.SimpleQueue()
        wake_r, wake_w = os.pipe()  # handler threads wake the loop; zmq sockets stay on this thread
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(wake_r, zmq.POLLIN)
        interval = self.settings.supervisor.heartbeat_interval
        next_beat = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_beat:
                control.beat(self.meter.heartbeat(self.status()))
                next_beat = now + interval
            events = dict(poller.poll(int(max(1, (next_beat - time.monotonic()) * 1000))))
            if router in events:
                # every message waiting, without an exception to end the loop; bytes, not zmq.Frames:
                # handlers take bytes, so a Frame would only add an object and a second copy
                while cast(int, router.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
                    self._accept(router, router.recv_multipart(), handlers, inline, pool, done, wake_w)
            if wake_r in events:
                os.read(wake_r, 4096)
            while not done.empty():
                identity, reply, payloads = done.get()
                router.send_multipart([identity, *bus.encode(reply, payloads)], copy=False)
        pool.shutdown(wait=False, cancel_futures=True)
        os.close(wake_r)
        os.close(wake_w)

    def _accept(self, router, frames, handlers, inline, pool, done, wake_w) -> None:
        identity = frames[0]
        try:
            header, payloads = bus.decode(frames[1:])
        except (ValueError, IndexError):
            router.send_multipart(
                [
                    identity,
                    *bus.encode({"ok": False, "error": "bad_request", "reason": "undecodable bus message"}),
                ]
            )
            return
        req_id = header.get("id")
        op = header.get("op")
        handler = handlers.get(op)
        if handler is None:
            reply = {
                "id": req_id,
                "ok": False,
                "error": "unknown_op",
                "reason": f"{self.name} has no op {op!r}",
            }
            router.send_multipart([identity, *bus.encode(reply)])
            return
        if op in inline:  # never blocks (inline_ops): answered here, no queue slot taken
            reply, out = self._answer(handler, header, req_id, payloads)
            self.meter.count()
            router.send_multipart([identity, *bus.encode(reply, out)], copy=False)
            return
        if len(self.meter) >= self.settings.limits.max_inflight:
            router.send_multipart(
                [
                    identity,
                    *bus.encode(
                        {"id": req_id, "ok": False, "error": "busy", "reason": f"{self.name} queue full"}
                    ),
                ]
            )
            return
        key = f"{identity.hex()}:{req_id}"
        self.meter.begin(key)

        def work() -> None:
            reply, out = self._answer(handler, header, req_id, payloads)
            self.meter.end(key)
            done.put((identity, reply, out))
            os.write(wake_w, b"x")

        pool.submit(work)

    def _answer(self, handler: Handler, header: dict, req_id: Any, payloads: list[bytes]) -> Reply:
        """The reply to one request, its ``id`` set: ``timeout`` unrun if its caller stopped waiting."""
        out: list[bytes] = []
        if expired(header):  # the caller gave up while this waited: its work helps nobody
            reply: dict[str, Any] = {"ok": False, "error": "timeout", "reason": "the caller stopped waiting"}
            log.info("%s: %s skipped, its caller stopped waiting", self.name, header.get("op"))
        else:
            reply, out = self._call(handler, header, payloads)
        reply["id"] = req_id
        return reply, out

    def _call(self, handler: Handler, header: dict, payloads: list[bytes]) -> Reply:
        # the gateway's correlation id (a citizen's journey) on every log line this request writes,
        # and on none after it (the loop thread answers inline ops and goes on)
        token = logs.CORRELATION.set(str(header.get(logs.HEADER_KEY, ""))[:32])
        try:
            result = handler(header, payloads)
        except HandlerError as exc:
            return {"ok": False, "error": exc.code, "reason": exc.reason, **exc.extra}, []
        except Exception as exc:  # a bug in one request must not take the worker down
            log.exception("%s: %s failed", self.name, header.get("op"))
            return {"ok": False, "error": "internal", "reason": f"{type(exc).__name__}: {exc}"}, []
        finally:
            logs.CORRELATION.reset(token)
        reply, out = result if isinstance(result, tuple) else (result, [])
        return {"ok": True, **reply}, list(out)


def expired(header: dict) -> bool:
    """The request's caller no longer waits (bus.EXPIRES passed; absent: it waits forever)."""
    expires = header.get(bus.EXPIRES)
    return isinstance(expires, (int, float)) and time.time() > expires
