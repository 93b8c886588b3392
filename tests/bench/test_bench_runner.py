"""The report says how to reproduce it (no timing asserts)."""

from appliance import config
from appliance.bench import runner


def test_meta_command_names_the_chosen_families():
    report = runner.run(config.load(environ={}), quick=True, only=["journey_typo"])
    assert report["results"] == {} and report["errors"] == {}
    assert report["meta"]["command"] == "appliance bench --quick --only journey_typo"
    assert "appliance bench --quick --only journey_typo" in runner.render(report)
