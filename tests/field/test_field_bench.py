"""`appliance bench --quick` runs the real pipeline and writes a valid bench.json (no timing asserts)."""

import json
import os

from click.testing import CliRunner
from harness import MODELS

from appliance.bench.runner import render
from appliance.cli import main

FIGURE_KEYS = {"value", "unit", "reference", "ref", "ratio", "higher_is_better", "n", "note"}


def test_quick_bench_writes_a_valid_report(tmp_path):
    out = tmp_path / "bench.json"
    env = {k: None for k in os.environ if k.startswith("APPLIANCE_")}
    env["APPLIANCE_PATHS_MODELS_DIR"] = str(MODELS)
    result = CliRunner().invoke(
        main, ["bench", "--quick", "--out", str(out)], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["errors"] == {}, report["errors"]
    assert report["meta"]["quick"] is True and report["meta"]["cpus"] >= 1
    assert set(report["results"]) == {"face", "search", "gateway", "metrics", "supervisor", "memory"}
    for family, figures in report["results"].items():
        for name, figure in figures.items():
            assert set(figure) == FIGURE_KEYS, (family, name)
            if figure["value"] is not None and figure["reference"]:
                assert figure["ratio"] >= 0, (family, name)
    for name in ("frame_decode", "frame_detect", "frame_align", "frame_embed", "frame_match", "frame_total"):
        assert report["results"]["face"][name]["value"] > 0
    assert {"search_1k", "search_10k"} <= set(report["results"]["search"])
    assert {"face_predict_rtt", "gateway_overhead", "bus_rtt", "handshake_rps_c1", "handshake_rps_c8"} <= set(
        report["results"]["gateway"]
    )
    assert {"start_to_ready", "face_restart_after_kill9"} <= set(report["results"]["supervisor"])
    assert {"rss_face", "rss_gateway", "rss_total"} <= set(report["results"]["memory"])
    table = render(report)
    assert "frame_detect" in table and "ratio" in table and table in result.stdout


def test_only_one_family(tmp_path):
    out = tmp_path / "b.json"
    env = {k: None for k in os.environ if k.startswith("APPLIANCE_")}
    result = CliRunner().invoke(main, ["bench", "--quick", "--only", "search", "--out", str(out)], env=env)
    assert result.exit_code == 0
    assert list(json.loads(out.read_text())["results"]) == ["search"]
