"""The 56 recognised ethnic groups of China (民族), stored without the trailing 族."""

from __future__ import annotations

from pypinyin import lazy_pinyin

ETHNIC_GROUPS: tuple[str, ...] = (
    "汉",
    "蒙古",
    "回",
    "藏",
    "维吾尔",
    "苗",
    "彝",
    "壮",
    "布依",
    "朝鲜",
    "满",
    "侗",
    "瑶",
    "白",
    "土家",
    "哈尼",
    "哈萨克",
    "傣",
    "黎",
    "傈僳",
    "佤",
    "畲",
    "高山",
    "拉祜",
    "水",
    "东乡",
    "纳西",
    "景颇",
    "柯尔克孜",
    "土",
    "达斡尔",
    "仫佬",
    "羌",
    "布朗",
    "撒拉",
    "毛南",
    "仡佬",
    "锡伯",
    "阿昌",
    "普米",
    "塔吉克",
    "怒",
    "乌孜别克",
    "俄罗斯",
    "鄂温克",
    "德昂",
    "保安",
    "裕固",
    "京",
    "塔塔尔",
    "独龙",
    "鄂伦春",
    "赫哲",
    "门巴",
    "珞巴",
    "基诺",
)
assert len(ETHNIC_GROUPS) == 56

# Everyday short names.
ALIASES = {"蒙": "蒙古", "维": "维吾尔", "汉人": "汉", "回民": "回", "藏民": "藏", "壮民": "壮"}

# Pinyin of every group, so that an ASR homophone ("汗族", "装族") still finds it.
_BY_PINYIN = {" ".join(lazy_pinyin(g)): g for g in ETHNIC_GROUPS}


def find_ethnic_group(text: str) -> str | None:
    """The ethnic group named in ``text`` (already stripped of filler), or None.

    "<name>族" anywhere wins (longest name first, so 土家族 is not 土族);
    otherwise the whole answer must be a name, an alias or a homophone of
    one, because single characters like 白 or 水 occur inside ordinary words.
    """
    for group in sorted(ETHNIC_GROUPS, key=len, reverse=True):
        if group + "族" in text:
            return group
    for alias, group in ALIASES.items():
        if alias + "族" in text or text == alias:
            return group
    core = text[:-1] if text.endswith("族") else text
    if core in ETHNIC_GROUPS:
        return core
    if core in ALIASES:
        return ALIASES[core]
    if 0 < len(core) <= 4:
        return _BY_PINYIN.get(" ".join(lazy_pinyin(core)))
    return None
