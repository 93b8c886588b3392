"""The request-set evaluation: how outcomes are judged, and `appliance classify-eval`'s table."""

import os
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from appliance.cli import main
from appliance.dialogue import evaluation
from appliance.dialogue.evaluation import Row


def result(services, fallback=False, candidates=()):
    return SimpleNamespace(
        classify="综合咨询" if fallback else "/".join(services),
        services=["综合咨询"] if fallback else services,
        fallback=fallback,
        candidates=list(candidates),
    )


@pytest.mark.parametrize(
    "expected, got, outcome",
    [
        ("公积金", result(["公积金"]), "correct"),
        ("公积金", result(["不动产登记"]), "wrong"),
        ("公积金", result([], True, ["公积金", "不动产登记"]), "clarified"),
        ("公积金", result([], True, ["医保"]), "fallback"),  # a question, but not about the right one
        ("公积金", result([], True), "fallback"),
        ("综合咨询", result([], True), "correct"),
        ("综合咨询", result(["护照"]), "wrong"),
        ("户口本/医保", result(["户口本"]), "fallback"),  # half of it: not wrong, not right
        ("户口本/医保", result(["户口本", "医保"]), "correct"),
        ("?社保卡|医保", result([], True, ["社保卡", "医保"]), "correct"),
        ("?社保卡|医保", result(["医保"]), "fallback"),  # a guess between the two: not wrong
        ("?社保卡|医保", result(["护照"]), "wrong"),
    ],
)
def test_outcomes(expected, got, outcome):
    assert evaluation.judge(Row(expected, "x"), got, "综合咨询").outcome == outcome


def test_bad_rows_are_refused(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("# comment\n身份证\t我要办身份证\n身份证 no tab here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.tsv:3"):
        evaluation.read_rows(path)


def test_classify_eval_prints_the_table_and_gates_on_wrong_services():
    env = {k: None for k in os.environ if k.startswith("APPLIANCE_")}
    run = CliRunner().invoke(main, ["classify-eval", "--set", "indirect-blind", "--set", "direct"], env=env)
    assert run.exit_code == 0, run.output
    assert "indirect-blind" in run.output and "direct" in run.output and "accuracy" in run.output
    gated = CliRunner().invoke(
        main, ["classify-eval", "--set", "indirect-blind", "--max-wrong", "0"], env=env
    )
    assert gated.exit_code == 1  # the blind set has a few wrong services (README)
    unknown = CliRunner().invoke(main, ["classify-eval", "--set", "nope"], env=env)
    assert unknown.exit_code == 2
