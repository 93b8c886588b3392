"""The STT decode-settings bench: the choice follows the table, and the family is registered."""
from appliance.bench import runner, stt
from appliance.cli.field import BENCH_FAMILIES


def row(setting, rtf, clean, noisy):
    return {"setting": setting, "rtf": rtf, "cer": {"clean": clean, "snr 10 dB": noisy}, "n": 4}


def test_the_cheapest_setting_at_equal_or_better_cer_is_chosen():
    greedy, beam3, no_vad = stt.Decode("greedy", beam=1), stt.Decode("beam 3", beam=3), stt.Decode("x", vad=False)
    rows = [row(stt.KIOSK, 0.30, 0.05, 0.20), row(greedy, 0.15, 0.05, 0.25),  # cheaper but worse in noise
            row(beam3, 0.22, 0.04, 0.20), row(no_vad, 0.40, 0.0, 0.1)]
    assert stt.choose(rows)["setting"] == beam3


def test_the_kiosk_setting_stays_when_nothing_cheaper_is_as_accurate():
    rows = [row(stt.KIOSK, 0.30, 0.05, 0.20), row(stt.Decode("greedy", beam=1), 0.15, 0.06, 0.20)]
    assert stt.choose(rows)["setting"] == stt.KIOSK


def test_families_are_registered_for_the_command_line():
    assert "stt" in runner.FAMILIES and "journey" in runner.FAMILIES
    assert BENCH_FAMILIES == runner.FAMILIES
