"""The console's words (both languages, every key) and its pure SVG charts."""

from __future__ import annotations

import re
import string

import pytest

from jishi.collector.console.catalog import CATALOGS, EN, ZH, choose, from_accept_language
from jishi.collector.console.svg import Bar, Stretch, bars_svg, timeline_svg
from jishi.collector.reports.lowuse import UNDER_USED, UNDER_USED_OR_MISSING
from jishi.collector.usage.timeline import STATES


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_is_in_both_languages_with_the_same_placeholders() -> None:
    assert set(EN) == set(ZH), {"only en": set(EN) - set(ZH), "only zh": set(ZH) - set(EN)}
    for key in EN:
        assert EN[key].strip() and ZH[key].strip(), key
        assert _fields(EN[key]) == _fields(ZH[key]), key


def test_every_state_has_a_word_and_chinese_words_are_chinese() -> None:
    for state in STATES:
        assert f"state_{state}" in EN
    assert all(re.search(r"[\u4e00-\u9fff]", ZH[f"state_{s}"]) for s in STATES)
    # unknown is said as such in both languages, never as a state's word
    assert "unknown" in EN["state_unknown"] and "未知" in ZH["state_unknown"]


def test_the_templates_use_only_keys_of_the_catalog() -> None:
    from importlib import resources

    folder = resources.files("jishi.collector.console") / "templates"
    used: set[str] = set()
    for item in folder.iterdir():
        used |= set(re.findall(r'\bt\("([a-z_]+)"', item.read_text(encoding="utf-8")))
    assert used, "no t(...) call found in the templates"
    whole = {key for key in used if not key.endswith("_")}
    assert whole <= set(EN), whole - set(EN)
    # Keys made from a prefix and a value (t("state_" ~ s)): every value has its word.
    values = {
        "state_": STATES,
        "category_": ("general", "specialised"),
        "verdict_": (UNDER_USED, UNDER_USED_OR_MISSING),
        "user_": ("internal", "external", "staff"),
    }
    assert used - whole == set(values)
    for prefix, names in values.items():
        assert {prefix + n for n in names} <= set(EN), prefix


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        (None, "fr-FR,zh-TW;q=0.5,en;q=0.4", "zh"),
        (None, "de, en;q=0", "en"),  # nothing of ours: English
        (None, "zh;q=0, en;q=0.1", "en"),  # q=0 means "not this"
        (None, "", "en"),
        (None, "zh;q=abc", "en"),
        ("zh", "en-US", "zh"),  # the switch wins over the browser
        ("en", "zh-CN", "en"),
        ("xx", "zh-CN", "zh"),  # a cookie that is no language of ours is ignored
    ],
)
def test_language_choice(cookie: str | None, header: str, expected: str) -> None:
    assert choose(cookie, header) == expected
    assert set(CATALOGS) == {"en", "zh"}


def test_accept_language_order_breaks_ties() -> None:
    assert from_accept_language("zh, en") == "zh"
    assert from_accept_language("en, zh") == "en"


def test_timeline_draws_every_stretch_with_its_state_class_and_escapes_text() -> None:
    stretches = [
        Stretch("running", 0, 600, "<b>run</b>"),
        Stretch("unknown", 600, 900, 'gap "x"'),
        Stretch("idle", 900, 1000, "idle"),
    ]
    svg = str(timeline_svg(stretches, 0, 2000, [(0, "00:00"), (1000, "<t>")], "a&b"))
    assert svg.count('class="st st-') == 3
    assert 'class="st st-unknown" data-i="1" x="300.00" y="0" width="150.00"' in svg
    assert "<b>" not in svg and "&lt;b&gt;run&lt;/b&gt;" in svg
    assert "&lt;t&gt;" in svg and 'aria-label="a&amp;b"' in svg
    assert 'id="hatch"' in svg  # unknown is hatched (console.css: .st-unknown)
    assert "style=" not in svg and "<script" not in svg  # nothing the CSP would block


def test_bars_scale_to_the_largest_and_show_completeness() -> None:
    bars = [Bar("01", 2.0, 1.0, "a"), Bar("02", 4.0, 0.5, "<b>")]
    svg = str(bars_svg(bars, "chart", "h"))
    assert "4.0 h" in svg
    heights = [float(h) for h in re.findall(r'class="bar-value"[^>]*height="([\d.]+)"', svg)]
    assert heights[1] == pytest.approx(2 * heights[0])
    widths = [float(w) for w in re.findall(r'class="bar-complete"[^>]*width="([\d.]+)"', svg)]
    assert widths[1] == pytest.approx(widths[0] / 2)
    assert "&lt;b&gt;" in svg
