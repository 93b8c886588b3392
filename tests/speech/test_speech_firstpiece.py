"""firstpiece: the lead of an uncached clause, and the engine's learnt cost (no model needed)."""

import pytest

from appliance.speech.firstpiece import MIN_LEAD_CHARS, CallCost, lead

WORDS = ["您", "说", "的", "是", "一三九", "一二三四", "，"]
CLAUSE = "".join(WORDS)


def split(text: str) -> list[str]:
    out, rest = [], text
    for w in WORDS:
        if rest.startswith(w):
            out.append(w)
            rest = rest[len(w) :]
    return out + ([rest] if rest else [])


def per_char(seconds_each: float, fixed: float = 0.0):
    return lambda text: fixed + seconds_each * len(text)


def test_the_longest_lead_within_the_budget_is_taken():
    assert lead(CLAUSE, split, per_char(0.1), 0.45) == ("您说的是", "一三九一二三四，")
    assert lead(CLAUSE, split, per_char(0.1), 0.75) == ("您说的是一三九", "一二三四，")


def test_a_clause_within_the_budget_is_not_cut():
    assert lead(CLAUSE, split, per_char(0.01), 0.7) == (CLAUSE, "")


def test_no_lead_shorter_than_two_characters_and_none_when_nothing_fits():
    assert MIN_LEAD_CHARS == 2
    assert lead(CLAUSE, split, per_char(0.1), 0.25) == ("您说", "的是一三九一二三四，")
    assert lead(CLAUSE, split, per_char(0.1, fixed=0.5), 0.6) == (CLAUSE, "")  # even 您说 is too slow


def test_a_tail_of_punctuation_only_is_no_reason_to_cut():
    words = ["您好", "，"]
    assert lead("您好，", lambda _t: words, per_char(1.0), 0.5) == ("您好，", "")


def test_the_cost_learns_the_machine_speed_from_its_calls():
    cost = CallCost(fixed_s=0.5, per_token_s=0.02)
    assert cost.scale == 1.0 and cost.predict(10) == pytest.approx(0.7)
    for _ in range(5):
        cost.observe(10, 2.1)  # three times slower than the prior
    assert cost.scale == pytest.approx(3.0) and cost.predict(25) == pytest.approx(3.0)
    for _ in range(30):
        cost.observe(10, 0.7)  # only the recent calls count
    assert cost.scale == pytest.approx(1.0)


def test_calls_of_different_lengths_give_the_machine_its_own_line():
    cost = CallCost(fixed_s=0.45, per_token_s=0.02)
    for n in (6, 15, 30, 57, 94):
        cost.observe(n, 0.5 + 0.03 * n)  # a machine with a steeper slope than the prior's
    assert cost.predict(40) == pytest.approx(0.5 + 0.03 * 40)
    assert cost.predict(40) > cost.prior(40)
