"""`appliance liveness FRAME...|VIDEO` and `appliance simulate liveness-api`."""

import json

import cv2
import pytest
from click.testing import CliRunner
from harness import ROOT

from appliance.cli import main
from appliance.liveness import attacks


@pytest.fixture
def env(tmp_path):
    return {
        "APPLIANCE_CONFIG": str(ROOT / "firmware-config" / "appliance.toml"),
        "APPLIANCE_PATHS_MODELS_DIR": str(ROOT / "models"),
    }


def write_frames(tmp_path, frames, video=False):
    if video:
        path = tmp_path / "clip.avi"
        writer = cv2.VideoWriter(
            str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (frames[0].shape[1], frames[0].shape[0])
        )
        for f in frames:
            writer.write(f)
        writer.release()
        return [str(path)]
    paths = []
    for i, f in enumerate(frames):
        paths.append(str(tmp_path / f"f{i:02d}.jpg"))
        cv2.imwrite(paths[-1], f)
    return paths


def test_frames_of_a_turning_head_are_live(tmp_path, env, liveness_photos):
    frames = attacks.sequence("bona_fide", *liveness_photos["obama_2"], 21, n=10)
    result = CliRunner().invoke(main, ["liveness", *write_frames(tmp_path, frames)], env=env)
    assert result.exit_code == 0, result.output
    assert "verdict: LIVE" in result.output and "parallax=" in result.output


def test_a_video_of_a_print_is_not_live_and_json_has_every_cue(tmp_path, env, liveness_photos):
    frames = attacks.sequence("print", *liveness_photos["biden"], 22, n=12)
    result = CliRunner().invoke(
        main, ["liveness", "--json", *write_frames(tmp_path, frames, video=True)], env=env
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["verdict"]["live"] is False and report["verdict"]["frames"] == 12
    assert {"turn", "parallax", "moire"} <= set(report["verdict"]["cues"])


def test_remote_answer_is_printed_when_configured(tmp_path, env, liveness_photos, liveness_api):
    liveness_api.reset()
    liveness_api.configure(score=0.42)
    env = {
        **env,
        "APPLIANCE_LIVENESS_API_ENABLED": "true",
        "APPLIANCE_LIVENESS_API_URL": liveness_api.url,
        "APPLIANCE_LIVENESS_API_APP_ID": "app-1",
        "APPLIANCE_LIVENESS_API_AUTHORIZATION": "secret-1",
    }
    frames = attacks.sequence("bona_fide", *liveness_photos["obama_2"], 21, n=10)
    result = CliRunner().invoke(main, ["liveness", *write_frames(tmp_path, frames)], env=env)
    assert "remote API: score 0.42" in result.output, result.output
    assert "verdict: NOT LIVE (remote_low_score" in result.output and result.exit_code == 1


def test_simulate_command_is_registered():
    result = CliRunner().invoke(main, ["simulate", "liveness-api", "--help"])
    assert result.exit_code == 0 and "seed 004" in result.output
