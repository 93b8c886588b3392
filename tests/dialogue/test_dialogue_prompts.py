"""The fixed prompts the TTS cache is prewarmed with: read from the planner, the fields, the catalogue."""

from appliance.dialogue import qna
from appliance.dialogue.catalogue import load_catalogue
from appliance.dialogue.fields import parse_field
from appliance.dialogue.prompts import fixed_prompts, page_greetings


def test_every_question_hint_procedure_and_fixed_reply_is_there():
    catalogue = load_catalogue()
    prompts = fixed_prompts(catalogue)
    assert prompts[0] == qna.INTRO and prompts.index(qna.CLOSING) < prompts.index(catalogue.services[0].flow)
    for text in [
        *qna.QUESTIONS.values(),
        "好的。",
        "请说“对”或者“不对”。",
        "这一项先跳过，稍后可以到窗口补充。",
    ]:
        assert text in prompts
    for field in ("name", "phone", "address", "career", "hukou"):  # the re-ask hint of an empty answer
        assert parse_field(field, "").hint in prompts
    for service in catalogue.services:
        assert service.flow in prompts
    assert "请说出您要办理的业务，或在下方输入。" in page_greetings()
    assert len(prompts) == len(set(prompts))


def test_no_pattern_and_no_citizen_words():
    prompts = fixed_prompts(load_catalogue())
    assert not [p for p in prompts if p.startswith("^") or "(" in p or "${" in p]
    assert not [p for p in prompts if "您说的是" in p]  # a read-back holds the citizen's number


def test_services_can_be_chosen():
    catalogue = load_catalogue()
    one = catalogue.regular[0]
    prompts = fixed_prompts(catalogue, services=[one.classify])
    assert one.flow in prompts and catalogue.regular[1].flow not in prompts
