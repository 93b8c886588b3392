"""The silent-liveness API client (seed 004) against its simulator, a real HTTP server."""

import base64
import json
import urllib.request

import cv2
import numpy as np
import pytest

from appliance.liveness import remote
from appliance.liveness.checker import LivenessChecker
from appliance.liveness.policy import Policy
from appliance.liveness.remote import RemoteError, RemoteUnavailable, SilentLivenessClient


def frame(w=320, h=240, value=120):
    img = np.full((h, w, 3), value, np.uint8)
    cv2.circle(img, (w // 2, h // 2), 40, (30, 160, 220), -1)
    return img


def client(sim, **kw):
    return SilentLivenessClient(sim.url, "app-1", "secret-1", kw.pop("device_uuid", "dev-9"), **kw)


@pytest.fixture(autouse=True)
def _reset(liveness_api):
    liveness_api.reset()


def test_success_score_and_documented_request(liveness_api):
    liveness_api.configure(score=0.91)
    answer = client(liveness_api).check([frame(), frame(value=90)])
    assert answer.score == pytest.approx(0.91) and answer.live_face
    seen = liveness_api.requests()[-1]
    assert seen["headers"]["x-app-id"] == "app-1" and seen["headers"]["device-uuid"] == "dev-9"
    assert seen["headers"]["authorization"] == "********"  # the simulator does not even keep it
    assert seen["headers"]["content-type"].startswith("application/json")
    assert seen["images"] == 2 and seen["result"] == pytest.approx(0.91)
    body = remote.build_request(["QUJD"], "t-1")
    assert body == {
        "code": 1019,
        "data": {
            "taskId": "t-1",
            "algoTasks": [{"algoTask": 1031, "algoConfig": {"silentface": {"algoType": 1031}}}],
            "imageList": [{"image": "QUJD"}],
        },
    }


def test_device_uuid_is_optional(liveness_api):
    client(liveness_api, device_uuid="").check([frame()])
    assert "device-uuid" not in liveness_api.requests()[-1]["headers"]


def test_minus_one_means_no_live_face(liveness_api):
    liveness_api.configure(score=-1)
    answer = client(liveness_api).check([frame()])
    assert answer.score == -1 and not answer.live_face


@pytest.mark.parametrize("code", [1001, 1004, 1010, 1011, 1017, 1028, 1030, 1031, 2023, 5003])
def test_injected_error_codes_become_clear_messages(liveness_api, code):
    liveness_api.configure(error=code)
    with pytest.raises(RemoteError) as info:
        client(liveness_api).check([frame()])
    assert info.value.code == code
    assert remote.ERRORS[code][0] in info.value.message and remote.ERRORS[code][1] in info.value.message


def test_every_code_of_the_seed_table_has_a_message():
    seed_codes = {
        0,
        *range(1001, 1032),
        *range(2001, 2008),
        2020,
        2021,
        2022,
        2023,
        2040,
        2041,
        2042,
        2043,
        5001,
        5002,
        5003,
    }
    assert set(remote.ERRORS) == seed_codes
    for code in seed_codes:
        assert remote.ERRORS[code][0].startswith("APP_ERR_") and remote.describe(code).endswith(f"{code})")
    assert "unknown error code 4242" in remote.describe(4242)


def test_wrong_credentials_are_refused_by_the_gateway(liveness_api):
    bad = SilentLivenessClient(liveness_api.url, "app-1", "wrong")
    with pytest.raises(RemoteError) as info:
        bad.check([frame()])
    assert info.value.code == 401 and "credentials" in info.value.message


def test_unreachable_slow_and_http_errors_are_unavailable(liveness_api):
    with pytest.raises(RemoteUnavailable):
        SilentLivenessClient("http://127.0.0.1:9/x", "a", "b", timeout=1).check([frame()])
    liveness_api.configure(delay=2.0)
    with pytest.raises(RemoteUnavailable):
        client(liveness_api, timeout=0.5).check([frame()])
    liveness_api.configure(delay=0.0, http_status=503, count=1)
    with pytest.raises(RemoteUnavailable):
        client(liveness_api).check([frame()])
    assert client(liveness_api).check([frame()]).score == pytest.approx(0.98)  # count=1: only once


def raw_post(sim, body, headers=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        sim.url,
        data=data,
        method="POST",
        headers=headers
        or {"Content-Type": "application/json", "X-APP-ID": "app-1", "Authorization": "secret-1"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def b64(img) -> str:
    return base64.b64encode(cv2.imencode(".jpg", img)[1].tobytes()).decode()


@pytest.mark.parametrize(
    "mutate,task_code",
    [
        (lambda b: b.update(code=1018), 1031),
        (lambda b: b["data"].pop("taskId"), 1031),
        (lambda b: b["data"]["algoTasks"][0].update(algoTask=1030), 1031),
        (lambda b: b["data"].update(imageList=[]), 1031),
        (lambda b: b["data"]["imageList"][0].update(image="***not base64***"), 1028),
        (lambda b: b["data"]["imageList"][0].update(image=base64.b64encode(b"not an image").decode()), 1028),
        (lambda b: b["data"]["imageList"].append({"image": b64(frame(200, 100))}), 1004),
    ],
)
def test_simulator_validates_requests_as_documented(liveness_api, mutate, task_code):
    body = remote.build_request([b64(frame())], "task-x")
    mutate(body)
    reply = raw_post(liveness_api, body)
    assert reply["data"]["task_code"] == task_code and reply["data"]["msg"]
    with pytest.raises(RemoteError):
        remote.parse_response(json.dumps(reply).encode())


def test_wrong_algo_type_is_not_an_error(liveness_api):
    body = remote.build_request([b64(frame())], "task-y")
    body["data"]["algoTasks"][0]["algoConfig"]["silentface"]["algoType"] = "nonsense"
    reply = raw_post(liveness_api, body)
    assert reply["code"] == 1020 and reply["data"]["task_id"] == "task-y"
    assert reply["data"]["results"][0]["algo_type"] == "1031" and reply["data"]["src_width"] == 320


# -- the policy around the remote API -----------------------------------------------------------


def decide_with_remote(sim, policy, **behaviour):
    sim.reset()
    sim.configure(**behaviour)
    checker = LivenessChecker(policy, remote=client(sim, timeout=0.5))
    verdict = None
    for _ in range(policy.min_frames):
        verdict = checker.observe(
            "k", frame(), [[140, 110], [180, 110], [160, 125], [145, 140], [175, 140]], [120, 80, 80, 90]
        )
    return verdict


def test_remote_vetoes_a_low_score_and_no_live_face(liveness_api):
    policy = Policy(required=("moire",), vetoes=("remote",))
    assert decide_with_remote(liveness_api, policy, score=0.97).live is True
    low = decide_with_remote(liveness_api, policy, score=0.2)
    assert low.live is False and low.reason == "remote_low_score" and low.cues["remote"]["score"] == 0.2
    none = decide_with_remote(liveness_api, policy, score=-1)
    assert none.live is False and none.reason == "remote_no_live_face"


def test_unreachable_remote_never_blocks_by_default_but_can_be_mandatory(liveness_api):
    lenient = Policy(required=("moire", "remote"), vetoes=("remote",))
    verdict = decide_with_remote(liveness_api, lenient, delay=2.0)
    assert verdict.live is True and "error" in verdict.cues["remote"]
    strict = Policy(required=("moire", "remote"), vetoes=("remote",), remote_on_unreachable="reject")
    verdict = decide_with_remote(liveness_api, strict, error=1017)
    assert verdict.live is False and verdict.reason == "remote_unavailable"
    assert "APP_ERR_COMM_BUSY" in verdict.cues["remote"]["error"]


def test_every_call_is_counted_for_the_fleet_by_outcome(liveness_api):
    from appliance.metrics import upstream

    def counts() -> dict:
        entry = upstream.status().get("upstream", {}).get("liveness_api", {})
        return {k: entry.get(k, 0) for k in ("ok", "refused", "unreachable", "count")}

    before = counts()
    client(liveness_api).check([frame()])
    with pytest.raises(RemoteError):
        SilentLivenessClient(liveness_api.url, "app-1", "wrong").check([frame()])
    with pytest.raises(RemoteUnavailable):
        SilentLivenessClient("http://127.0.0.1:9/x", "a", "b", timeout=1).check([frame()])
    after = counts()
    assert {k: after[k] - before[k] for k in after} == {"ok": 1, "refused": 1, "unreachable": 1, "count": 3}
