"""Messages in the reader's language: English by default, simplified Chinese under a Chinese
locale or ``jishi --lang zh`` (issue 19).

Theory of operation. Only the standard library's gettext is used, so the agent on an
instrument PC loads no Babel and stays small. The catalog source is
``jishi/locale/zh_CN/LC_MESSAGES/jishi.po``; ``scripts/i18n.py compile`` writes the ``jishi.mo``
beside it, which the wheel ships. ``tests/test_i18n.py`` fails when a message marked in the code
has no Chinese translation, when the .po keeps one the code no longer uses, and when the .mo
does not match the .po.

Marking: ``_("text")`` translates now; ``N_("text")`` only marks a string kept in a table that
is translated when it is shown (``_(TABLE[key])``); ``ngettext(singular, plural, n)`` for
counts. Arguments are literals so the extractor can read them; values go in with
``.format()`` after translation, never into the message id.

The language is chosen once per process, on first use: :func:`set_language` (the ``--lang``
option) wins; else the environment as GNU gettext reads it (``LANGUAGE``, a colon-separated
list, unless ``LC_ALL``, ``LC_MESSAGES`` or ``LANG`` name the C locale, then those three in
that order); else, on Windows, where none of them is usually set, the user's display
language. Any ``zh`` locale (zh, zh_CN, zh_CN.UTF-8, zh_TW, zh-Hans) reads simplified Chinese;
anything else English. Log lines meant for operators stay English and are not marked.
"""

from __future__ import annotations

import gettext
import os
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DOMAIN = "jishi"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
ENGLISH = "en"
CHINESE = "zh_CN"
# What ``--lang`` accepts, and what each means.
LANG_CHOICES = {"en": ENGLISH, "zh": CHINESE, "zh_CN": CHINESE}


class _Choice:
    """The language in use and its catalog, chosen once per process (a mutable holder rather
    than module globals)."""

    language: str | None = None
    translation: gettext.NullTranslations | None = None


_choice = _Choice()


def language_of(name: str | None) -> str | None:
    """The language a locale name asks for (``zh_CN.UTF-8`` -> zh_CN, ``en_US`` -> en, ``C``
    -> en), or None when it asks for one jishi has no catalog for (fr_FR) or is empty."""
    if not name:
        return None
    base = name.strip().split(".")[0].split("@")[0].replace("-", "_").lower()
    if base in {"c", "posix"} or base == "en" or base.startswith("en_"):
        return ENGLISH
    # Windows spells its locales out: "Chinese (Simplified)_China", "Chinese_China".
    if base == "zh" or base.startswith(("zh_", "chinese")):
        return CHINESE
    return None


def _is_c_locale(name: str) -> bool:
    return name.split(".", maxsplit=1)[0] in {"C", "POSIX"}


def choose_language(environ: Mapping[str, str], system_locale: str | None = None) -> str:
    """The language of messages for this environment (see the module's docstring);
    ``system_locale`` is the OS's user locale, consulted when no variable decides."""
    locale_name = next(
        (environ[key] for key in ("LC_ALL", "LC_MESSAGES", "LANG") if environ.get(key)), ""
    )
    if locale_name and _is_c_locale(locale_name):
        return ENGLISH  # GNU gettext ignores LANGUAGE under the C locale
    candidates = [*environ.get("LANGUAGE", "").split(":"), locale_name]
    if not locale_name:
        candidates.append(system_locale or "")
    for candidate in candidates:
        language = language_of(candidate)
        if language is not None:
            return language
    return ENGLISH


def _system_locale() -> str | None:
    """The language of the user's Windows; elsewhere the variables say it all: None."""
    if os.name != "nt":  # (not sys.platform: mypy would call the Windows branch unreachable)
        return None
    import ctypes

    windll = getattr(ctypes, "windll", None)  # Windows only
    return None if windll is None else windows_ui_language(windll.kernel32)


# PRIMARYLANGID of a Windows LANGID (its low 10 bits) for Chinese: zh-CN, zh-TW, zh-HK, zh-SG.
_LANG_CHINESE = 0x04


def windows_ui_language(kernel32: Any) -> str:
    """``zh_CN`` or ``en`` for the Windows user's display language (GetUserDefaultUILanguage,
    the language Windows itself speaks to the user, not the format settings)."""
    lang_id = int(kernel32.GetUserDefaultUILanguage())
    return CHINESE if lang_id & 0x3FF == _LANG_CHINESE else ENGLISH


def set_language(language: str | None) -> str:
    """Use ``language`` (``en``, ``zh``, ``zh_CN``) from now on; None chooses from the
    environment again. Returns the language in use."""
    chosen = LANG_CHOICES.get(language or "") or choose_language(os.environ, _system_locale())
    _choice.language = chosen
    if chosen == ENGLISH:
        _choice.translation = gettext.NullTranslations()
    else:
        _choice.translation = gettext.translation(
            DOMAIN, localedir=LOCALE_DIR, languages=[chosen], fallback=True
        )
    return chosen


def current_language() -> str:
    """The language messages are shown in (chosen on first use)."""
    if _choice.language is None:
        return set_language(None)
    return _choice.language


def _current() -> gettext.NullTranslations:
    if _choice.translation is None:
        set_language(None)
    assert _choice.translation is not None
    return _choice.translation


def _(message: str) -> str:
    """``message`` in the reader's language."""
    return _current().gettext(message)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention, known to every extractor
    """Marks ``message`` for translation without translating it (a table entry)."""
    return message


def ngettext(singular: str, plural: str, count: int) -> str:
    """The form of a counted message for ``count`` in the reader's language."""
    return _current().ngettext(singular, plural, count)


# The state names of DESIGN.md's state model as a reader sees them; config files, the wire and
# the API keep the English names.
STATE_NAMES = {
    "off": N_("off"),
    "idle": N_("idle"),
    "running": N_("running"),
    "fault": N_("fault"),
    "maintenance": N_("maintenance"),
    "unknown": N_("unknown"),
}


def state_name(state: str) -> str:
    """A state (``running``) in the reader's language; an unknown name as it is."""
    label = STATE_NAMES.get(str(state))
    return str(state) if label is None else _(label)


# The validators' fixed phrases (pydantic's, which jishi's own config checks reuse), as
# patterns and the message each one is; a message they do not match is shown as it is.
_VALIDATOR_PHRASES = (
    [
        (rf"Input should be {relation} (?P<limit>\S+)", message)
        for relation, message in (
            ("greater than or equal to", N_("Input should be greater than or equal to {limit}")),
            ("greater than", N_("Input should be greater than {limit}")),
            ("less than or equal to", N_("Input should be less than or equal to {limit}")),
            ("less than", N_("Input should be less than {limit}")),
        )
    ]
    + [
        (re.escape(message), message)
        for message in (
            N_("Input should be a valid integer, unable to parse string as an integer"),
            N_("Input should be a valid integer, got a number with a fractional part"),
            N_("Input should be a valid integer"),
            N_("Input should be a valid number, unable to parse string as a number"),
            N_("Input should be a valid number"),
            N_("Input should be a valid string"),
            N_("Input should be a valid boolean, unable to interpret input"),
            N_("Input should be a valid boolean"),
            N_("Input should be a valid list"),
            N_("Input should be a valid dictionary"),
            N_("Field required"),
        )
    ]
    + [
        (r"Input should be (?P<choices>'.*)", N_("Input should be {choices}")),
        (
            r"String should have at least (?P<count>\d+) characters?",
            N_("String should have at least {count} character(s)"),
        ),
        (
            r"String should have at most (?P<count>\d+) characters?",
            N_("String should have at most {count} character(s)"),
        ),
    ]
)


def known_phrase(message: str, phrases: list[tuple[str, str]]) -> str:
    """A library's message (a validator's, argparse's) in the reader's language: the first of
    ``phrases`` (pattern, message id with the pattern's groups as fields) that matches all of
    it; in English, and for a message no pattern matches, ``message`` itself."""
    if current_language() == ENGLISH:
        return message
    for pattern, msgid in phrases:
        found = re.fullmatch(pattern, message)
        if found:
            return _(msgid).format(**found.groupdict())
    return message


def validator_message(message: str) -> str:
    """A config validator's message (``Input should be greater than or equal to 5``) in the
    reader's language (:func:`known_phrase`)."""
    return known_phrase(message, _VALIDATOR_PHRASES)


def columns(text: str) -> int:
    """How many console columns ``text`` takes: two for a wide (CJK) character, one else."""
    if text.isascii():
        return len(text)
    # Imported here: English never needs its tables, and the agent's memory counts (issue 14).
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def ljust(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` console columns (str.ljust counts characters)."""
    return text + " " * max(width - columns(text), 0)


def rjust(text: str, width: int) -> str:
    """``text`` right-aligned in ``width`` console columns."""
    return " " * max(width - columns(text), 0) + text


def wrap(
    text: str, width: int, first: str = "", rest: str = "", long_words: bool = False
) -> list[str]:
    """``text`` wrapped within ``width`` console columns, its lines indented by ``first`` and
    ``rest``. Chinese has no spaces to break at and its characters take two columns, so text
    with wide characters is cut by columns, anywhere; other text at spaces, as textwrap does."""
    if columns(text) == len(text):
        return textwrap.wrap(
            text,
            width,
            initial_indent=first,
            subsequent_indent=rest,
            break_long_words=long_words,
            break_on_hyphens=False,
        )
    lines: list[str] = []
    while text:
        indent = rest if lines else first
        piece = cut(text, width - len(indent))
        lines.append(indent + piece)
        text = text[len(piece) :].lstrip()
    return lines


def cut(text: str, width: int) -> str:
    """The longest start of ``text`` within ``width`` columns (one character at least)."""
    used = 0
    for index, char in enumerate(text):
        used += columns(char)
        if used > width:
            return text[: max(index, 1)]
    return text
