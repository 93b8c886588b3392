"""Nearest catalogue example: a hint to ask about, never a verdict."""

from appliance.dialogue import Classifier
from appliance.dialogue.catalogue import parse_catalogue
from appliance.dialogue.classifier import normalise
from appliance.dialogue.examples import NearestExamples

CATALOGUE = parse_catalogue(
    {
        "service": [
            {
                "classify": "驾驶证",
                "keywords": ["驾驶证"],
                "flow": "车管所",
                "examples": ["科目二什么时候约考", "科目一挂了还能考吗"],
            },
            {"classify": "医保", "keywords": ["医保"], "flow": "医保局", "examples": ["住院的钱怎么报"]},
            {"classify": "综合咨询", "fallback": True, "flow": "您好", "examples": ["洗手间在哪里"]},
        ]
    }
)


def test_nearest_votes_for_the_most_similar_examples():
    near = NearestExamples(CATALOGUE, normalise)
    hit = near.nearest("科目三什么时候能考")
    assert hit.service == "驾驶证" and 0 < hit.similarity <= 1
    assert near.nearest("住院花的钱去哪报").service == "医保"
    assert near.nearest("洗手间怎么走").service == "综合咨询"


def test_one_shared_word_is_not_resemblance():
    near = NearestExamples(CATALOGUE, normalise)
    assert near.nearest("什么") is None  # shares no two character pairs with any example
    assert near.nearest("") is None


def test_classifier_asks_about_the_nearest_example_and_never_names_it():
    classifier = Classifier(CATALOGUE)
    r = classifier.classify("科目三什么时候能考")
    assert r.fallback and r.candidates == ["驾驶证"]
    r = classifier.classify("洗手间怎么走")  # like an out-of-scope example: no question
    assert r.fallback and r.candidates == []
