"""Classifier evaluation on tests/data/requests.tsv (dev and held-out halves) and edge cases."""

from collections import defaultdict
from pathlib import Path

import pytest

from appliance.dialogue import Classifier, load_catalogue

DATA = Path(__file__).resolve().parents[1] / "data" / "requests.tsv"
# Written after the classifier existed, as a check of how it generalises.
BLIND = DATA.with_name("requests_blind.tsv")
SERVICES = [
    "身份证",
    "户口本",
    "居住证",
    "社保卡",
    "医保",
    "公积金",
    "护照",
    "港澳通行证",
    "营业执照",
    "驾驶证",
    "结婚登记",
    "不动产登记",
]


@pytest.fixture(scope="module")
def classifier():
    return Classifier(load_catalogue())


def _read(path):
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            expected, text = line.split("\t")
            rows.append((expected, text))
    return rows


def _rows():
    # Alternate lines: even = dev (tuned on), odd = holdout (reported separately).
    rows = [(e, t, "dev" if i % 2 == 0 else "holdout") for i, (e, t) in enumerate(_read(DATA))]
    return rows + [(e, t, "blind") for e, t in _read(BLIND)]


def test_eval_set_is_big_and_covers_every_service():
    rows = _rows()
    assert len(rows) >= 150
    labels = {e for e, _, _ in rows}
    for service in SERVICES + ["综合咨询"]:
        assert service in labels
    assert sum("/" in e for e, _, _ in rows) >= 8  # multi-service requests


def test_accuracy_per_service(classifier, capsys):
    per = defaultdict(lambda: [0, 0])
    split = defaultdict(lambda: [0, 0])
    misses = []
    for expected, text, part in _rows():
        got = classifier.classify(text).classify
        key = "多项业务" if "/" in expected else expected
        hit = got == expected
        for bucket in (per[key], split[part], split["all"]):
            bucket[0] += hit
            bucket[1] += 1
        if not hit:
            misses.append(f"{text} -> {got} (expected {expected})")
    with capsys.disabled():
        print("\nservice          correct/total  accuracy")
        for key, (ok, n) in sorted(per.items()):
            print(f"{key:<12}\t{ok:>3}/{n:<3}\t{ok / n:6.1%}")
        for part in ("dev", "holdout", "blind", "all"):
            ok, n = split[part]
            print(f"[{part}] {ok}/{n} = {ok / n:.1%}")
        for m in misses:
            print("MISS", m)
    ok, n = split["all"]
    assert ok / n >= 0.95
    ok, n = split["holdout"]
    assert ok / n >= 0.90


@pytest.mark.parametrize("text", ["", "   ", "😀😀😀", "？？？", "a" * 100000, "我要办证", "123456"])
def test_odd_input_falls_back(classifier, text):
    r = classifier.classify(text)
    assert r.classify == "综合咨询" and r.fallback
    assert "身份证" in r.flow  # the fallback flow lists what the kiosk can do


def test_document_mention_is_not_a_second_request(classifier):
    assert classifier.classify("补办身份证需要带户口本吗").classify == "身份证"


def test_multi_service_flow_has_headings(classifier):
    r = classifier.classify("我要办身份证和户口本")
    assert r.services == ["身份证", "户口本"]
    assert "【身份证】" in r.flow and "【户口本】" in r.flow
    assert r.scores["身份证"] >= 0.9


def test_homophones_by_pinyin(classifier):
    for text, expected in [
        ("我要半身份正", "身份证"),
        ("公鸡金", "公积金"),
        ("护找", "护照"),
        ("户口部", "户口本"),
        ("社宝卡", "社保卡"),
    ]:
        assert classifier.classify(text).classify == expected, text


def test_traditional_characters_from_whisper(classifier):
    for text, expected in [("我要辦身份證", "身份证"), ("護照過期了", "护照"), ("不動產登記", "不动产登记")]:
        assert classifier.classify(text).classify == expected, text


def test_two_syllable_keywords_need_identical_pinyin(classifier):
    # 想干 (xiang gan) is one fuzzy merge away from 香港 (xiang gang): not enough for 2 syllables.
    assert classifier.classify("我想干点别的").fallback


# -- indirect and situational requests (issue 16 §4) ------------------------------------------------
from appliance.dialogue import evaluation  # noqa: E402
from appliance.dialogue.classifier import normalise  # noqa: E402

INDIRECT = DATA.with_name("requests_indirect.tsv")  # tuned on
INDIRECT_BLIND = DATA.with_name("requests_indirect_blind.tsv")  # written and committed first, never tuned on
# Measured on the blind part (README, "The citizen's flow"): accuracy 68.3 %, wrong service 1.7 % (2 of 120).
BLIND_ACCURACY_FLOOR = 0.65
BLIND_WRONG_BOUND = 0.03


def _judged(classifier, path):
    return evaluation.run(classifier.classify, evaluation.read_rows(path), "综合咨询")


def test_indirect_sets_cover_every_service_twenty_times():
    tuning, blind = evaluation.read_rows(INDIRECT), evaluation.read_rows(INDIRECT_BLIND)
    for service in SERVICES:
        assert sum(r.expected == service for r in tuning + blind) >= 20, service
        assert sum(r.expected == service for r in blind) >= 8, service
    for rows in (tuning, blind):
        assert sum(r.expected == "综合咨询" for r in rows) >= 10  # out of scope
        assert sum("/" in r.expected and not r.open_question for r in rows) >= 8  # several services
        assert sum(r.open_question for r in rows) >= 4  # genuinely open: ask
    assert not {normalise(r.text) for r in tuning} & {normalise(r.text) for r in blind}


def test_blind_indirect_set_wrong_service_is_rare(classifier, capsys):
    judged = _judged(classifier, INDIRECT_BLIND)
    tuned = _judged(classifier, INDIRECT)
    with capsys.disabled():
        print("\n" + evaluation.table({"indirect-tuning": tuned, "indirect-blind": judged}))
    blind = evaluation.summary(judged)
    assert blind["wrong"] <= BLIND_WRONG_BOUND
    assert blind["accuracy"] >= BLIND_ACCURACY_FLOOR
    tuning = evaluation.summary(tuned)
    assert tuning["wrong"] <= 0.01 and tuning["accuracy"] >= 0.9


def test_situation_phrases_come_from_the_tuning_set_or_the_procedure():
    """The blind part stays blind: no situation phrase or example exists only because of it."""
    tuning = [normalise(r.text) for r in evaluation.read_rows(INDIRECT)]
    blind = {normalise(r.text) for r in evaluation.read_rows(INDIRECT_BLIND)}
    for service in load_catalogue().services:
        procedure = normalise(service.flow + str(service.documents))
        for phrase, _ in service.situations:
            parts = [normalise(p) for p in phrase.split("+")]
            supported = all(p in procedure for p in parts) or any(all(p in t for p in parts) for t in tuning)
            assert supported, f"{service.classify}: {phrase!r} is in no tuning row nor its procedure"
        assert not {normalise(x) for x in service.examples} & blind, service.classify


@pytest.mark.parametrize(
    "text, expected",
    [
        ("我要把单位交的住房的钱取出来", "公积金"),  # a situation, no name
        ("我要把單位交的住房的錢取出來", "公积金"),  # the same in traditional characters (Whisper)
        ("想学开车，去哪里报名", "驾驶证"),
        ("孩子要上户口，还要给他交看病的保险", "户口本/医保"),  # a situation joined as a second request
        ("租房子的人能办居住证吗", "居住证"),  # named outright inside a wide situation
        ("我爸户口在老家，想问问住院报销的事", "医保"),  # 户口 as where someone is registered
    ],
)
def test_situations_understood(classifier, text, expected):
    r = classifier.classify(text)
    assert r.classify == expected and not r.candidates


@pytest.mark.parametrize(
    "text, candidates",
    [
        ("离婚了房子要改到我一个人名下", ["结婚登记", "不动产登记"]),  # close: ask which, in mention order
        ("我想出去旅游，要办什么证件", ["护照", "港澳通行证"]),  # one phrase, two services
        ("那张卡丢了，想先挂失", ["社保卡"]),  # weak: ask, do not guess
        ("我是外地户口，想在这边长期住下来要办什么证", ["户口本"]),  # only background: never named
        ("申领证件要多久", ["结婚登记"]),  # 领证 inside 申领证件: weak
    ],
)
def test_unsure_names_no_service_and_gives_candidates(classifier, text, candidates):
    r = classifier.classify(text)
    assert r.fallback and r.classify == "综合咨询"
    assert r.candidates == candidates


def test_sound_alike_situation_is_not_matched(classifier):
    # 网点 sounds like the situation 网店 (a web shop -> 营业执照): described words match as written
    r = classifier.classify("银行网点在哪")
    assert "营业执照" not in r.services + r.candidates
