"""Gateway and bus overhead, measured on the running service.

- /face_predict round trip over the WebSocket vs the same request sent
  straight to the face worker over the bus (the worker's own time + one bus
  hop): the difference is what the gateway adds;
- HTTP `handshake` requests per second (text input, keep-alive, one at a time
  and 8 in flight) vs a bare aiohttp server answering JSON in another process;
- bus round trip of a trivial op answered on a worker's request loop, and of a
  cheap op through its thread pool, vs a raw pyzmq DEALER/ROUTER echo over
  ipc:// and that echo with a bare thread-pool hand-off (all interleaved).

`python -m appliance.bench.gateway serve PORT` is the bare reference server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time

import zmq

from ..runtime import bus, endpoints
from .service import ROOT, Service, free_port
from .stats import figure, interleaved_ms

HANDSHAKE = {
    "user_id": "bench",
    "type": "handshake",
    "info": {"name": "李明", "phone": None},
    "input": {"type": "text", "text": "我要办身份证"},
}


async def _predict_rounds(
    url: str, echo_url: str, client: bus.BusClient, jpeg: bytes, repeats: int
) -> tuple[list, list, list]:
    """(our WebSocket, the face worker straight over the bus, a bare aiohttp WebSocket echo)
    round trips, interleaved one by one so all see the same machine load; round 0 warms up."""
    import aiohttp

    ours, direct, bare = [], [], []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, max_msg_size=0) as ws, session.ws_connect(echo_url) as echo:
            for i in range(repeats + 1):
                t0 = time.perf_counter()
                await ws.send_bytes(jpeg)
                reply = json.loads((await ws.receive()).data)
                t1 = time.perf_counter()
                client.request("predict", {"hash": "bench-direct"}, [jpeg])  # blocks the idle loop: fine
                t2 = time.perf_counter()
                await echo.send_bytes(jpeg)
                await echo.receive()
                t3 = time.perf_counter()
                if i:
                    ours.append((t1 - t0) * 1000)
                    direct.append((t2 - t1) * 1000)
                    bare.append((t3 - t2) * 1000)
                if reply.get("message") == "fail":
                    raise RuntimeError("face_predict closed the connection: raise face.predict_max_frames")
    return ours, direct, bare


def small_frame() -> bytes:
    """A 64×64 grey JPEG: the face worker answers it (no face) in about a millisecond,
    so what remains of the round trip is transport: the gateway's share stands out."""
    import cv2
    import numpy as np

    return cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))[1].tobytes()


async def _http_rate(url: str, body: dict, total: int, concurrency: int) -> float:
    import aiohttp

    payload = json.dumps(body, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one() -> None:
            async with session.post(url, data=payload, headers=headers) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"{url} answered HTTP {r.status}")

        await one()  # warm-up, and proof the request is valid
        queue = list(range(total))

        async def lane() -> None:
            while queue:
                queue.pop()
                await one()

        t0 = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        return total / (time.perf_counter() - t0)


def serve(port: int) -> None:
    """The bare reference: aiohttp answering every POST with a small JSON body, no bus, no work."""
    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"user_id": "bench", "type": "handshake", "hash": "0" * 32})

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        async for _msg in ws:  # one small JSON text frame per frame received, as /face_predict does
            await ws.send_str(
                json.dumps({"user_id": "", "type": "face_predict", "hash": "0", "message": "continue"})
            )
        return ws

    app = web.Application()
    app.router.add_get("/ws", echo)
    app.router.add_post("/{tail:.*}", answer)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


POOLED_OP = ("train.open", {"user_id": "bench", "hash": "bench-pooled"})
"""The face worker's cheapest op on its thread pool: it checks the user id and opens an (empty)
enrolment session in memory; no model call, no database."""


def _pool_echo(router: zmq.Socket, stop: threading.Event) -> None:
    """The raw echo with the worker's hand-off and nothing else: each message goes to a
    ThreadPoolExecutor thread, which queues it back and wakes this loop through a pipe (the floor of
    a loop thread -> pool thread -> loop thread round in Python)."""
    pool = concurrent.futures.ThreadPoolExecutor(1)
    done: queue.SimpleQueue = queue.SimpleQueue()
    wake_r, wake_w = os.pipe()
    poller = zmq.Poller()
    poller.register(router, zmq.POLLIN)
    poller.register(wake_r, zmq.POLLIN)

    def work(frames: list) -> None:
        done.put(frames)
        os.write(wake_w, b"x")

    try:
        while not stop.is_set():
            events = dict(poller.poll(100))
            if router in events:
                pool.submit(work, router.recv_multipart())
            if wake_r in events:
                os.read(wake_r, 4096)
            while not done.empty():
                router.send_multipart(done.get())
    finally:
        pool.shutdown(wait=False)
        os.close(wake_r)
        os.close(wake_w)


def _bus_rtt(client: bus.BusClient, repeats: int, path: str) -> dict[str, float]:
    """Median ms, interleaved so load bursts hit all five:

    - ``ours``: a trivial op (``predict.close``, answered on the worker's loop thread: inline_ops)
      through BusClient and the face worker;
    - ``raw``: a raw pyzmq DEALER/ROUTER echo over ipc:// (the echo on a thread of this process);
    - ``worker``: the same op's pre-encoded header sent by a bare DEALER to the worker (the worker's
      request loop without BusClient's share);
    - ``pooled``: POOLED_OP through BusClient and the worker's thread pool;
    - ``floor``: the raw echo with a bare thread-pool hand-off and a pipe wake-up (_pool_echo);
    - ``process``: the raw echo in its own process (``echo``), as a worker is: a round trip between
      two processes wakes another process twice, which one between two threads of this one does not."""
    ctx: zmq.Context = zmq.Context.instance()
    router, dealer = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    router.bind(f"ipc://{path}")
    dealer.connect(f"ipc://{path}")
    pool_router, pool_dealer = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    pool_router.bind(f"ipc://{path}.pool")
    pool_dealer.connect(f"ipc://{path}.pool")
    bare = ctx.socket(zmq.DEALER)
    bare.connect(client.endpoint)
    proc_dealer = ctx.socket(zmq.DEALER)
    proc_dealer.setsockopt(zmq.RCVTIMEO, 20_000)  # an echo process that did not start fails the figure
    proc_dealer.connect(f"ipc://{path}.proc")
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.bench.gateway", "echo", f"{path}.proc"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    header = bus.encode(
        {"id": "bare", "op": "predict.close", "hash": "bench", bus.EXPIRES: time.time() + 3600}
    )
    stop = threading.Event()

    def echo() -> None:
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        while not stop.is_set():
            if poller.poll(100):
                router.send_multipart(router.recv_multipart())

    threads = [
        threading.Thread(target=echo, daemon=True),
        threading.Thread(target=_pool_echo, args=(pool_router, stop), daemon=True),
    ]
    for thread in threads:
        thread.start()
    msg = [json.dumps({"id": 1, "op": "predict.close", "hash": "bench"}).encode()]

    def raw() -> None:
        dealer.send_multipart(msg)
        dealer.recv_multipart()

    def floor() -> None:
        pool_dealer.send_multipart(msg)
        pool_dealer.recv_multipart()

    def worker() -> None:
        bare.send_multipart(header)
        bare.recv_multipart()

    def process() -> None:
        proc_dealer.send_multipart(msg)
        proc_dealer.recv_multipart()

    op, fields = POOLED_OP
    try:
        return interleaved_ms(
            {
                "ours": lambda: client.request("predict.close", {"hash": "bench"}),
                "raw": raw,
                "worker": worker,
                "pooled": lambda: client.request(op, fields),
                "floor": floor,
                "process": process,
            },
            repeats,
            warmup=20,
        )
    finally:
        client.request("train.close", {"hash": fields["hash"]})
        stop.set()
        for thread in threads:
            thread.join(1)
        proc.terminate()
        proc.wait(10)
        for sock in (router, dealer, pool_router, pool_dealer, bare, proc_dealer):
            sock.close(0)


def run(service: Service, quick: bool, jpeg: bytes) -> dict:
    repeats = 10 if quick else 60
    out = {}
    port = free_port()
    ref = subprocess.Popen(
        [sys.executable, "-m", "appliance.bench.gateway", "serve", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = bus.BusClient(endpoints.worker_requests(service.runtime_dir, "face"), timeout=30)
    try:
        _wait_port(port)
        url, echo_url = f"ws://127.0.0.1:{service.ports['tool']}/face_predict", f"ws://127.0.0.1:{port}/ws"
        ours, direct, _ = asyncio.run(_predict_rounds(url, echo_url, client, jpeg, repeats))
        out["face_predict_rtt"] = figure(
            statistics.median(ours),
            "ms",
            statistics.median(direct),
            "face worker over the bus, no gateway",
            n=repeats,
            note="640x480 JPEG with one face",
        )
        ours, direct, bare = asyncio.run(_predict_rounds(url, echo_url, client, small_frame(), repeats * 3))
        overhead = statistics.median(a - b for a, b in zip(ours, direct, strict=False))
        out["gateway_overhead"] = figure(
            overhead,
            "ms",
            statistics.median(bare),
            "bare aiohttp WebSocket echo",
            n=repeats * 3,
            note="our WS round trip minus the direct bus one, 64x64 frame",
        )
        rtt = _bus_rtt(client, repeats * 10, str(service.runtime_dir / "raw.req"))
        raw_echo = "raw pyzmq DEALER/ROUTER echo (ipc)"
        # figure: (ours, reference, what the reference is, what ours is)
        for name, ours_key, ref_key, ref_is, note in (
            (
                "bus_rtt",
                "ours",
                "raw",
                raw_echo,
                "a trivial op (predict.close) answered on a worker's loop thread (inline_ops)",
            ),
            (
                "bus_rtt_worker_loop",
                "worker",
                "raw",
                raw_echo,
                "the same op's header from a bare DEALER: the worker's loop without BusClient",
            ),
            (
                "bus_rtt_pooled",
                "pooled",
                "raw",
                raw_echo,
                f"{POOLED_OP[0]} (no model, no database) through a worker's loop and thread pool",
            ),
            (
                "bus_rtt_pool_floor",
                "floor",
                "raw",
                raw_echo,
                "the raw echo + a bare ThreadPoolExecutor hand-off and pipe wake-up: the pool's floor",
            ),
            (
                "bus_rtt_pooled_vs_floor",
                "pooled",
                "floor",
                "the raw echo with a bare thread-pool hand-off",
                "what the pooled path adds above the hand-off itself (BusClient, JSON, the op, meter)",
            ),
            (
                "bus_rtt_vs_process_echo",
                "ours",
                "process",
                "raw pyzmq echo in its own process (ipc)",
                "the trivial op against a raw echo that, like the worker, is another process",
            ),
            (
                "bus_rtt_client",
                "ours",
                "worker",
                "a bare DEALER's round trip through the same worker",
                "what BusClient.request adds (header, JSON, id check)",
            ),
        ):
            out[name] = figure(
                rtt[ours_key] * 1000, "µs", rtt[ref_key] * 1000, ref_is, n=repeats * 10, note=note
            )
        total = 100 if quick else 600
        for concurrency in (1, 8):
            ours_rate = asyncio.run(_http_rate(service.url("/handshake"), HANDSHAKE, total, concurrency))
            bare_rate = asyncio.run(
                _http_rate(f"http://127.0.0.1:{port}/handshake", HANDSHAKE, total, concurrency)
            )
            out[f"handshake_rps_c{concurrency}"] = figure(
                ours_rate,
                "req/s",
                bare_rate,
                "bare aiohttp JSON answer",
                higher_is_better=True,
                n=total,
                note=f"{concurrency} in flight, text input",
            )
    finally:
        client.close()
        ref.terminate()
        ref.wait(10)
    return out


def _wait_port(port: int, timeout: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"reference server did not listen on {port}")


def echo(path: str) -> None:
    """The raw reference in its own process, as a worker is: a ROUTER echoing every message."""
    ctx: zmq.Context = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.bind(f"ipc://{path}")
    while True:
        router.send_multipart(router.recv_multipart())


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "serve":
    serve(int(sys.argv[2]))
if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "echo":
    echo(sys.argv[2])
