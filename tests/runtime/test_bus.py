"""The bus against fake peers: fail fast, time out, fail pending on disconnect."""

import asyncio
import tempfile

import pytest
import zmq

from appliance.runtime import bus, endpoints


@pytest.fixture
def endpoint():
    return endpoints.worker_requests(tempfile.mkdtemp(prefix="ka-b-"), "face")


def test_no_worker_is_unavailable_not_a_timeout(endpoint):
    client = bus.BusClient(endpoint, timeout=5)
    with pytest.raises(bus.WorkerUnavailable):
        client.request("anything")


def test_silent_worker_times_out(endpoint):
    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.bind(endpoint)
    client = bus.BusClient(endpoint, timeout=0.5)
    with pytest.raises(bus.BusTimeout):
        client.request("anything")
    assert router.poll(1000)  # it did arrive; the peer just never answered
    router.close(0)


def test_stale_reply_is_not_taken_for_the_next_one(endpoint):
    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.bind(endpoint)
    client = bus.BusClient(endpoint, timeout=0.3)
    with pytest.raises(bus.BusTimeout):
        client.request("first")
    ident, *frames = router.recv_multipart()
    first, _ = bus.decode(frames)
    router.send_multipart([ident, *bus.encode({"id": first["id"], "ok": True, "which": "first"})])
    client.timeout = 3

    import threading

    def answer_second():
        ident2, *frames2 = router.recv_multipart()
        second, _ = bus.decode(frames2)
        router.send_multipart([ident2, *bus.encode({"id": second["id"], "ok": True, "which": "second"})])

    t = threading.Thread(target=answer_second)
    t.start()
    reply, _ = client.request("second")
    t.join()
    assert reply["which"] == "second"
    router.close(0)


async def test_async_pending_requests_fail_when_the_worker_goes_away(endpoint):
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.bind(endpoint)
    client = bus.AsyncBusClient(endpoint, timeout=30)
    pending = asyncio.ensure_future(client.request("hang"))
    await asyncio.sleep(0.3)
    assert router.poll(1000)
    router.close(0)  # the worker dies with the request in flight
    with pytest.raises(bus.WorkerUnavailable):
        await asyncio.wait_for(pending, 10)
    await client.close()
    ctx.term()


async def test_async_round_trip_zero_copy_payloads(endpoint):
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.bind(endpoint)
    client = bus.AsyncBusClient(endpoint, timeout=5)
    image = bytes(range(256)) * 4096

    async def serve():
        loop = asyncio.get_running_loop()
        frames = await loop.run_in_executor(None, router.recv_multipart)
        header, payloads = bus.decode(frames[1:])
        router.send_multipart(
            [frames[0], *bus.encode({"id": header["id"], "ok": True, "n": len(payloads[0])})]
        )

    server = asyncio.ensure_future(serve())
    reply, _ = await client.request("size", payloads=[memoryview(image)])
    await server
    assert reply["n"] == len(image)
    with pytest.raises(bus.RemoteError):
        bus.check_reply({"ok": False, "error": "bad_data", "reason": "x"})
    with pytest.raises(bus.WorkerBusy):
        bus.check_reply({"ok": False, "error": "busy"})
    await client.close()
    router.close(0)
    ctx.term()
