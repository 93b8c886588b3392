"""`appliance doctor` on a healthy set-up, and on broken models, data dir, database, ports, upstreams."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from click.testing import CliRunner
from harness import MODELS, ROOT, free_port

from appliance import store
from appliance.cli import main
from appliance.runtime import endpoints

EXPECTED = {
    "python",
    "packages",
    "config",
    "catalogue",
    "models.face",
    "models.speech",
    "face.answers",
    "speech.tts",
    "speech.stt",
    "camera",
    "port.tool",
    "port.flow_socket",
    "port.flow_http",
    "privileged_port",
    "data_dir",
    "database",
    "schema",
    "outbox",
    "disk",
    "clock",
    "upstream.sebox",
    "upstream.tencent",
    "upstream.liveness_api",
    "systemd",
    "watchdog",
}


def doctor(env, *args):
    base = {k: None for k in os.environ if k.startswith("APPLIANCE_")}
    base.update(
        {
            "APPLIANCE_CONFIG": str(ROOT / "firmware-config" / "appliance.toml"),
            "APPLIANCE_PATHS_MODELS_DIR": str(MODELS),
            "APPLIANCE_CAMERA_SOURCE": "none",
            **{f"APPLIANCE_PORTS_{k}": str(free_port()) for k in ("TOOL", "FLOW_SOCKET", "FLOW_HTTP")},
        }
    )
    base.update(env)
    result = CliRunner().invoke(main, ["doctor", "--json", *args], env=base, catch_exceptions=False)
    report = json.loads(result.stdout)
    return result.exit_code, {c["name"]: c for c in report["checks"]}


@pytest.fixture
def data_dir(tmp_path):
    """A data dir with a migrated database and an outbox holding one pending and one dead item."""
    d = tmp_path / "data"
    db = store.open_database(endpoints.database_path(d))
    store.migrate(db)
    for state in ("pending", "dead"):
        store.OutboxItem.create(kind="faceLib/person/reg", key="u1", dedup_key=state, payload={}, state=state)
    db.close()
    return d


def test_healthy_setup_passes_with_every_check_listed(data_dir):
    code, checks = doctor({"APPLIANCE_PATHS_DATA_DIR": str(data_dir)})
    assert code == 0, checks
    assert EXPECTED <= set(checks)
    for name in (
        "models.face",
        "models.speech",
        "face.answers",
        "speech.stt",
        "data_dir",
        "database",
        "schema",
    ):
        assert checks[name]["status"] == "PASS", checks[name]
    assert "1 face" in checks["face.answers"]["detail"] and "身份证" in checks["speech.stt"]["detail"]
    assert checks["outbox"]["status"] == "WARN" and "1 pending, 1 dead" in checks["outbox"]["detail"]
    assert (
        checks["upstream.tencent"]["status"] == "WARN" and checks["upstream.tencent"]["detail"] == "disabled"
    )
    assert checks["camera"]["status"] == "WARN" and "no camera configured" in checks["camera"]["detail"]
    assert all(c["fix"] for c in checks.values() if c["status"] != "PASS")
    # the doctor never leaves files behind in the data dir it examined
    assert sorted(p.name for p in data_dir.iterdir()) == [endpoints.DATABASE_FILE]


def test_table_output_and_exit_code():
    base = {k: None for k in os.environ if k.startswith("APPLIANCE_")}
    result = CliRunner().invoke(
        main,
        ["doctor", "--skip", "speech", "--skip", "face"],
        env={
            **base,
            "APPLIANCE_PATHS_MODELS_DIR": str(MODELS),
            "APPLIANCE_CAMERA_SOURCE": "none",
            "APPLIANCE_PORTS_FLOW_SOCKET": str(free_port()),
        },
    )
    assert "PASS  models.face" in result.stdout and "passed," in result.stdout


def test_broken_model_checksum_fails(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    for entry in MODELS.iterdir():  # link everything, copy and damage the detector
        if entry.name != "face_detection_yunet_2023mar_f32.onnx":
            (models / entry.name).symlink_to(entry)
    damaged = bytearray((MODELS / "face_detection_yunet_2023mar_f32.onnx").read_bytes())
    damaged[5000] ^= 0xFF
    (models / "face_detection_yunet_2023mar_f32.onnx").write_bytes(bytes(damaged))
    code, checks = doctor({"APPLIANCE_PATHS_MODELS_DIR": str(models)}, "--skip", "speech")
    assert code == 1
    assert checks["models.face"]["status"] == "FAIL" and "sha256" in checks["models.face"]["detail"]
    assert "models fetch" in checks["models.face"]["fix"]
    assert checks["face.answers"]["status"] == "FAIL"


def test_unwritable_data_dir_fails(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be")
    code, checks = doctor({"APPLIANCE_PATHS_DATA_DIR": str(blocker)}, "--skip", "speech", "--skip", "face")
    assert (
        code == 1
        and checks["data_dir"]["status"] == "FAIL"
        and "not a directory" in checks["data_dir"]["detail"]
    )
    code, checks = doctor(
        {"APPLIANCE_PATHS_DATA_DIR": str(blocker / "data")}, "--skip", "speech", "--skip", "face"
    )
    assert code == 1 and checks["data_dir"]["status"] == "FAIL"


def test_damaged_database_fails(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    endpoints.database_path(d).write_bytes(b"this is not a database" * 100)
    code, checks = doctor({"APPLIANCE_PATHS_DATA_DIR": str(d)}, "--skip", "speech", "--skip", "face")
    assert code == 1 and checks["database"]["status"] == "FAIL"


def test_port_held_by_a_stranger_fails():
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        port = stranger.getsockname()[1]
        code, checks = doctor({"APPLIANCE_PORTS_TOOL": str(port)}, "--skip", "speech", "--skip", "face")
    assert code == 1 and checks["port.tool"]["status"] == "FAIL" and "ss -ltnp" in checks["port.tool"]["fix"]


def test_ports_held_by_our_running_service_pass(start_appliance):
    app = start_appliance(workers="dialogue,gateway").wait_ready()
    env = {f"APPLIANCE_PORTS_{k.upper()}": str(v) for k, v in app.ports.items()}
    env["APPLIANCE_PATHS_DATA_DIR"] = str(app.data_dir)
    code, checks = doctor(env, "--skip", "speech", "--skip", "face")
    for key in ("tool", "flow_socket", "flow_http"):
        assert checks[f"port.{key}"]["status"] == "PASS", checks[f"port.{key}"]
        assert "our running service" in checks[f"port.{key}"]["detail"]
    assert checks["database"]["status"] == "PASS"


class Simulator:
    """One of appliance.simulators (the seeds' remote systems) as a subprocess on a free port."""

    def __init__(self, kind: str, *args: str):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"appliance.simulators.{kind}", "--port", str(self.port), *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            assert self.proc.poll() is None, f"{kind} simulator exited"
            time.sleep(0.1)
        raise AssertionError(f"{kind} simulator did not listen")

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(15)


@pytest.fixture
def simulators():
    started = []

    def start(kind, *args):
        started.append(Simulator(kind, *args))
        return started[-1]

    yield start
    for sim in started:
        sim.stop()


SKIP_MODELS = ("--skip", "speech", "--skip", "face", "--skip", "models")


def test_upstreams_reachable_with_the_right_credentials(simulators, tmp_path):
    token, auth = "tencent-secret-123", "liveness-secret-456"
    tencent = simulators(
        "tencent", "--token", token, "--models", str(MODELS), "--journal", str(tmp_path / "j")
    )
    liveness = simulators("liveness_api", "--app-id", "kiosk", "--authorization", auth)
    sebox = simulators("sebox")
    env = {
        "APPLIANCE_TENCENT_ENABLED": "true",
        "APPLIANCE_TENCENT_TOKEN": token,
        "APPLIANCE_TENCENT_BASE_URL": f"http://127.0.0.1:{tencent.port}/tech/ai/face/",
        "APPLIANCE_LIVENESS_API_ENABLED": "true",
        "APPLIANCE_LIVENESS_API_APP_ID": "kiosk",
        "APPLIANCE_LIVENESS_API_AUTHORIZATION": auth,
        "APPLIANCE_LIVENESS_API_URL": f"http://127.0.0.1:{liveness.port}/aipaas/live/v1/detection/silent",
        "APPLIANCE_SEBOX_ENABLED": "true",
        "APPLIANCE_SEBOX_URL": f"ws://127.0.0.1:{sebox.port}",
    }
    code, checks = doctor(env, *SKIP_MODELS)
    for name in ("upstream.tencent", "upstream.liveness_api", "upstream.sebox"):
        assert checks[name]["status"] == "PASS" and " ms" in checks[name]["detail"], checks[name]
    assert token not in json.dumps(checks) and auth not in json.dumps(checks)
    assert sebox.get("/_sim/state")["configs"], "the box never received the configuration message"

    # wrong credentials: the Tencent-style API says so in an errcode, the liveness API with HTTP 401
    env["APPLIANCE_TENCENT_TOKEN"], env["APPLIANCE_LIVENESS_API_AUTHORIZATION"] = "wrong", "wrong"
    code, checks = doctor(env, *SKIP_MODELS)
    assert code == 1
    for name in ("upstream.tencent", "upstream.liveness_api"):
        assert checks[name]["status"] == "FAIL" and "credentials" in checks[name]["detail"], checks[name]

    env["APPLIANCE_TENCENT_BASE_URL"] = f"http://127.0.0.1:{free_port()}/"  # nobody there
    code, checks = doctor(env, *SKIP_MODELS)
    assert code == 1 and "unreachable" in checks["upstream.tencent"]["detail"]
