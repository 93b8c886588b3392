"""The STT decode-settings bench: the choice follows the table, and the family is registered."""

from appliance.bench import runner, stt
from appliance.cli.field import BENCH_FAMILIES
from appliance.config import Settings


def row(setting, rtf, clean, noisy):
    return {"setting": setting, "rtf": rtf, "cer": {"clean": clean, "snr 10 dB": noisy}, "n": 4}


def test_the_cheapest_setting_at_equal_or_better_cer_is_chosen():
    greedy, beam2 = stt.Decode("greedy", beam=1), stt.Decode("beam 2", beam=2)
    no_vad = stt.Decode("x", vad=False)
    rows = [
        row(stt.KIOSK, 0.30, 0.05, 0.20),
        row(greedy, 0.15, 0.05, 0.25),  # cheaper but worse in noise
        row(beam2, 0.22, 0.04, 0.20),
        row(no_vad, 0.10, 0.0, 0.1),
    ]  # no VAD: reported, not chosen
    assert stt.choose(rows)["setting"] == beam2


def test_the_kiosk_setting_stays_when_nothing_cheaper_is_as_accurate():
    rows = [row(stt.KIOSK, 0.30, 0.05, 0.20), row(stt.Decode("greedy", beam=1), 0.15, 0.06, 0.20)]
    assert stt.choose(rows)["setting"] == stt.KIOSK


def test_families_are_registered_for_the_command_line():
    assert "stt" in runner.FAMILIES and "journey" in runner.FAMILIES
    assert BENCH_FAMILIES == runner.FAMILIES


def test_the_reference_row_is_what_the_kiosk_decodes_with():
    from appliance.speech import stt as kiosk_stt

    assert stt.KIOSK.beam == kiosk_stt.BEAM_SIZE == 3  # the table's choice (docs/bench.md)
    assert stt.KIOSK.vad and not stt.KIOSK.without_timestamps
    assert stt.KIOSK.context_pad_s == kiosk_stt.CONTEXT_PAD_S == Settings().speech.stt_context_pad_s
