"""Service catalogue loading and validation."""

import tomllib

import pytest

from appliance.dialogue.catalogue import DEFAULT_PATH, CatalogueError, load_catalogue, parse_catalogue
from appliance.dialogue.record import RECORD_FIELDS

REQUIRED = [
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


@pytest.fixture
def raw():
    return tomllib.loads(DEFAULT_PATH.read_text(encoding="utf-8"))


def test_shipped_catalogue_has_every_service():
    cat = load_catalogue()
    names = [s.classify for s in cat.regular]
    assert sorted(names) == sorted(REQUIRED)
    assert cat.fallback.classify == "综合咨询"
    for s in cat.services:
        assert len(s.flow) > 40
        assert all(f in RECORD_FIELDS for f in s.fields)
        for row in s.documents:
            assert all(isinstance(v, (str, int, float, bool)) for v in row.values())
    assert all(s.documents for s in cat.regular)


def test_needed_fields_and_tables():
    cat = load_catalogue()
    fields = cat.needed_fields("身份证/护照")
    assert fields[:5] == ["name", "gender", "nationality", "phone", "id_card"]  # record (seed) order
    assert "political_status" in fields and "birth" in fields
    assert len(fields) == len(set(fields))
    rows = cat.documents_for("身份证/户口本")
    assert {r["业务"] for r in rows} == {"身份证", "户口本"}
    assert "业务" not in cat.documents_for("护照")[0]
    assert cat.needed_fields("综合咨询") == []
    assert cat.needed_fields("综合咨询/护照")[0] == "name"
    with pytest.raises(KeyError):
        cat.needed_fields("火星签证")


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda d: d["service"][0].update(fields=["name", "shoe_size"]), ["身份证", "fields", "shoe_size"]),
        (lambda d: d["service"][1].update(keywords=[]), ["户口本", "keywords"]),
        (lambda d: d["service"][2].update(flow=""), ["居住证", "flow"]),
        (lambda d: d["service"][3].update(keywords=["社保:abc"]), ["社保卡", "keywords", "weight"]),
        (lambda d: d["service"][4].update(documents=[{"材料": ["a", "b"]}]), ["医保", "documents"]),
        (lambda d: d["service"][5].update(colour="red"), ["公积金", "colour"]),
        (lambda d: d["service"][6].update(classify="身份证"), ["身份证", "classify"]),
        (lambda d: d["service"][0].update(fallback=True), ["fallback"]),
        (lambda d: d.update(always_ask=["name", "blood_type"]), ["always_ask"]),
        (lambda d: d.pop("service"), ["service"]),
        (lambda d: d["service"][7].update(situations="去香港"), ["港澳通行证", "situations"]),
        (lambda d: d["service"][7].update(situations=["去香港+"]), ["港澳通行证", "situations", "part"]),
        (lambda d: d["service"][8].update(situations=["开店:9"]), ["营业执照", "situations", "weight"]),
        (lambda d: d["service"][9].update(examples=["", "学车"]), ["驾驶证", "examples"]),
    ],
)
def test_bad_catalogue_names_service_and_key(raw, mutate, words):
    mutate(raw)
    with pytest.raises(CatalogueError) as err:
        parse_catalogue(raw)
    for w in words:
        assert w in str(err.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(CatalogueError):
        load_catalogue(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[service]\nclassify = ", encoding="utf-8")
    with pytest.raises(CatalogueError, match="not valid TOML"):
        load_catalogue(bad)
