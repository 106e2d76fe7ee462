"""Voicemail triage on text transcripts (Mandarin as Vosk writes it, with spaces, and English)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.followup.triage import Rules, RulesError, is_repeat, load_rules, parse_rules, triage


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules()


@pytest.mark.parametrize(("text", "category", "keyword"), [
    ("我 家 门口 的 公交车 站 好久 没有 车 了 路灯 也 坏 了", "transport", "公交车"),
    ("道路 拥堵 得 很 厉害 每天 上班 都 堵车", "transport", "堵车"),
    ("小区 物业 不管 事 我 家 房子 漏水 三个月 了", "housing", "物业"),
    ("我 的 养老金 三个月 没有 发 医保 也 不能 报销", "social_security", "养老金"),
    ("办 营业执照 审批 太慢 了 跑 了 五 趟", "business_environment", "营业执照"),
    ("核酸 检测 点 太少 隔离 的 人 没人 管", "epidemic_prevention", "核酸"),
    ("街道 那个 干部 态度 很差 我 要 投诉 他", "complaints_officials", "投诉"),
    ("我家门口的公交车站好久没有车了", "transport", "公交车"),   # no spaces at all
])
def test_mandarin_categories(rules: Rules, text: str, category: str, keyword: str) -> None:
    t = triage(text, "zh", 0.9, rules)
    assert t.category == category
    assert keyword in t.matched_keywords
    assert t.scores[category] == max(t.scores.values())
    assert t.urgency == "normal" and not t.needs_listening


@pytest.mark.parametrize(("text", "category", "keyword"), [
    ("The bus on my street never comes and the road is full of potholes", "transport", "bus"),
    ("My landlord raised the rent again and the apartment is leaking", "housing", "rent"),
    ("My pension has not been paid for three months", "social_security", "pension"),
    ("It took six weeks to get a business licence approval", "business_environment",
     "business licence"),
    ("There is an outbreak in our building and nobody organised quarantine", "epidemic_prevention",
     "quarantine"),
    ("I want to make a complaint about a rude official at the district office",
     "complaints_officials", "complaint"),
])
def test_english_categories(rules: Rules, text: str, category: str, keyword: str) -> None:
    t = triage(text, "en", 0.9, rules)
    assert t.category == category
    assert keyword in t.matched_keywords
    assert t.urgency == "normal" and not t.needs_listening


def test_substring_match_when_jieba_splits_the_keyword(rules: Rules) -> None:
    # jieba segments 公交车站 as one word, so 公交车 is found by substring matching only
    t = triage("公交车站", "zh", 0.9, rules)
    assert t.category == "transport" and "公交车" in t.matched_keywords
    # nested keywords count once: 公交 lies inside 公交车
    assert "公交" not in t.matched_keywords


def test_no_keyword_gives_default_category(rules: Rules) -> None:
    t = triage("我 想 问 一下 明天 是不是 放假", "zh", 0.9, rules)
    assert t.category == "other" and t.matched_keywords == ()
    assert set(t.scores.values()) == {0}


@pytest.mark.parametrize(("text", "language", "word"), [
    ("紧急 情况 工厂 着火 了", "zh", "紧急"),
    ("救命 啊 有人 掉 到 河 里", "zh", "救命"),
    ("楼下 发生 火灾 了", "zh", "火灾"),
    ("老板 欠薪 半年 了 工人 都 没 钱 回家", "zh", "欠薪"),
    ("this is an emergency my neighbour collapsed", "en", "emergency"),
    ("there is a fire in the market", "en", "fire"),
    ("please help us", "en", "help"),
    ("we have had unpaid wages since march", "en", "unpaid wages"),
])
def test_urgent(rules: Rules, text: str, language: str, word: str) -> None:
    t = triage(text, language, 0.9, rules)
    assert t.urgency == "urgent" and word in t.urgent_keywords


def test_urgency_does_not_fire_on_parts_of_words(rules: Rules) -> None:
    assert triage("the fireplace in the helpdesk office is helpful", "en", 0.9,
                  rules).urgency == "normal"


def test_urgent_message_still_gets_a_topic(rules: Rules) -> None:
    t = triage("公司 欠薪 半年 了", "zh", 0.9, rules)
    assert t.urgency == "urgent" and t.category == "business_environment"


def test_listen_flag(rules: Rules) -> None:
    long_zh = "我 家 门口 的 公交车 站 没有 车 了"
    low = triage(long_zh, "zh", 0.41, rules)
    assert low.needs_listening and "low confidence" in low.listen_reasons[0]
    assert low.category == "transport"                 # still classified
    assert not triage(long_zh, "zh", 0.6, rules).needs_listening   # threshold is inclusive
    assert triage("", "zh", 0.0, rules).listen_reasons[0] == "empty transcript"
    assert triage("喂 喂", "zh", 0.95, rules).needs_listening       # 2 characters
    assert triage("hello hello", "en", 0.95, rules).needs_listening  # 2 words
    assert not triage("please call me back", "en", 0.95, rules).needs_listening


def test_deterministic(rules: Rules) -> None:
    text = "小区 物业 乱 收费 公交车 也 不 来"
    assert triage(text, "zh", 0.8, rules) == triage(text, "zh", 0.8, rules)


def test_repeat_caller() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    day = timedelta(days=1)
    two_recent = [now - 1 * day, now - 6 * day]
    assert is_repeat("+8613800001111", two_recent, now, n=3, days=7)
    assert not is_repeat("+8613800001111", [now - 1 * day, now - 8 * day], now, n=3, days=7)
    assert not is_repeat("+8613800001111", [], now, n=3, days=7)
    assert is_repeat("+8613800001111", [], now, n=1, days=7)
    assert not is_repeat("+8613800001111", [now + day, now + 2 * day], now, n=3, days=7)
    assert not is_repeat("", two_recent, now, n=3, days=7)
    assert not is_repeat("anonymous", two_recent, now, n=3, days=7)
    with pytest.raises(ValueError):
        is_repeat("+8613800001111", two_recent, now, n=0, days=7)


def test_default_rules_file_is_complete(rules: Rules) -> None:
    keys = [c.key for c in rules.categories]
    assert keys == ["transport", "housing", "social_security", "business_environment",
                    "epidemic_prevention", "complaints_officials"]
    assert [c.label_zh for c in rules.categories] == ["交通", "住房", "社保", "营商环境", "防疫",
                                                      "投诉干部"]
    assert {"紧急", "救命", "火灾", "欠薪"} <= set(rules.urgent_zh)
    assert rules.repeat_calls == 3 and rules.repeat_days == 7


def _minimal() -> dict:
    return {"categories": {"transport": {"label_zh": "交通", "label_en": "transport",
                                         "keywords_zh": ["公交"], "keywords_en": ["bus"]}},
            "urgency": {"urgent_zh": ["紧急"], "urgent_en": ["emergency"]}}


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.pop("categories"), "categories: must be a non-empty mapping"),
    (lambda d: d["categories"]["transport"].pop("label_zh"),
     "categories.transport.label_zh: must be a non-empty string"),
    (lambda d: d["categories"]["transport"].update(keywords_zh="公交"),
     "categories.transport.keywords_zh: must be a non-empty list"),
    (lambda d: d["categories"]["transport"]["keywords_en"].append(""),
     r"categories.transport.keywords_en\[1\]: must be a non-empty string"),
    (lambda d: d["categories"]["transport"].update(keyword_zh=["x"]),
     "categories.transport: unknown keys"),
    (lambda d: d["categories"].update({"Bad Key": {}}), "key must be lowercase"),
    (lambda d: d.update(min_confidence=1.5), "min_confidence: must be a number between 0 and 1"),
    (lambda d: d.update(repeat={"calls": 1}), "repeat.calls: must be a whole number"),
    (lambda d: d.pop("urgency"), "urgency: must be a mapping"),
    (lambda d: d.update(colour="red"), "unknown keys"),
])
def test_bad_rules_are_rejected_with_the_field(mutate, message: str) -> None:
    data = _minimal()
    parse_rules(data, "rules.yaml")      # the minimal file itself is valid
    mutate(data)
    with pytest.raises(RulesError, match=message):
        parse_rules(data, "rules.yaml")


def test_bad_rules_files(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("categories: [unclosed\n", encoding="utf-8")
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rules(broken)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(RulesError, match=f"{listy}: top level: must be a mapping"):
        load_rules(listy)
