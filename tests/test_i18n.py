"""Messages follow the locale (issue 19): every marked message has a Chinese translation, the
shipped .mo is the .po compiled, the command modules print no unmarked English, and the
language is chosen from ``--lang``, the environment or Windows' display language. The commands
themselves in both languages: tests/test_i18n_commands.py."""

from __future__ import annotations

import ast
import gettext
import importlib.util
import re
import string
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from jishi import i18n
from jishi.cli import language_option

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile("[\u4e00-\u9fff]")


def _catalog_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("jishi_i18n_tool", ROOT / "scripts" / "i18n.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


tool = _catalog_tool()


@pytest.fixture
def english() -> Iterator[None]:
    """The process's language set for one test, then chosen afresh for the next."""
    yield
    i18n.set_language(None)


def test_every_message_in_the_source_has_a_chinese_translation_and_no_entry_is_stale() -> None:
    assert tool.problems() == []


def test_the_extractor_finds_the_messages_of_the_agent_check() -> None:
    used = tool.extract()
    assert ("check passed", None) in used
    assert "agent/check.py" in used[("check passed", None)]
    plural = [key for key in used if key[1] is not None]
    assert ("config {path}: valid ({count} instrument, hash {hash})") in [k[0] for k in plural]


def _fields(text: str) -> set[str]:
    return {name for _, name, spec, _ in string.Formatter().parse(text) if name is not None} | {
        f"{name}:{spec}" for _, name, spec, _ in string.Formatter().parse(text) if spec
    }


def test_every_translation_keeps_the_placeholders_of_its_message() -> None:
    """A translation that loses ``{path}`` or changes ``{free:.0f}`` fails at .format() time
    in front of a technician; here it fails first."""
    entries = tool.parse_po(tool.PO_FILE.read_text(encoding="utf-8"))
    wrong = [
        (entry.msgid, text)
        for entry in entries
        if entry.msgid
        for text in entry.msgstr
        if _fields(text) != _fields(entry.msgid)
    ]
    assert wrong == []
    assert len(entries) > 150  # the catalog really was read


@pytest.mark.parametrize(
    "source",
    [
        'print(_(f"broken {x}"))',
        'print(_("a" + x))',
        "N_(text)",
        'ngettext("one", plural, n)',
    ],
)
def test_the_extractor_refuses_a_marked_call_it_cannot_read(tmp_path: Path, source: str) -> None:
    (tmp_path / "jishi").mkdir()
    (tmp_path / "jishi" / "bad.py").write_text(source + "\n", encoding="utf-8")
    with pytest.raises(tool.CatalogError, match=r"jishi/bad\.py: line 1"):
        tool.extract(tmp_path)


def test_the_shipped_mo_is_the_po_compiled_and_python_reads_it() -> None:
    entries = tool.parse_po(tool.PO_FILE.read_text(encoding="utf-8"))
    assert tool.MO_FILE.read_bytes() == tool.compile_mo(entries)
    with tool.MO_FILE.open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)
    assert catalog.gettext("check passed") == "检查通过"
    one, many = (
        "config {path}: valid ({count} instrument, hash {hash})",
        ("config {path}: valid ({count} instruments, hash {hash})"),
    )
    assert catalog.ngettext(one, many, 3) == catalog.ngettext(one, many, 1)
    assert CJK.search(catalog.ngettext(one, many, 3))


def test_the_po_round_trips_through_the_parser_and_the_writer() -> None:
    text = tool.PO_FILE.read_text(encoding="utf-8")
    entries = tool.parse_po(text)
    assert tool.format_po(entries) == text


@pytest.mark.parametrize(
    ("environ", "system", "expected"),
    [
        ({}, None, "en"),
        ({"LANG": "C.UTF-8"}, None, "en"),
        ({"LANG": "zh_CN.UTF-8"}, None, "zh_CN"),
        ({"LANG": "zh_TW.UTF-8"}, None, "zh_CN"),
        ({"LANG": "zh"}, None, "zh_CN"),
        ({"LANG": "en_US.UTF-8"}, None, "en"),
        ({"LANG": "fr_FR.UTF-8"}, None, "en"),
        ({"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, None, "zh_CN"),
        ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, None, "en"),
        ({"LC_MESSAGES": "zh_CN.GB18030", "LANG": "en_GB.UTF-8"}, None, "zh_CN"),
        # LANGUAGE is a list that wins over the locale, except under the C locale (GNU).
        ({"LANGUAGE": "zh_CN:en", "LANG": "en_US.UTF-8"}, None, "zh_CN"),
        ({"LANGUAGE": "fr:zh", "LANG": "en_US.UTF-8"}, None, "zh_CN"),
        ({"LANGUAGE": "zh_CN", "LANG": "C"}, None, "en"),
        # Windows sets none of the variables: the user's locale decides.
        ({}, "Chinese (Simplified)_China", "zh_CN"),
        ({}, "zh_CN", "zh_CN"),
        ({}, "English_United States", "en"),
        ({"LANG": "en_US.UTF-8"}, "Chinese (Simplified)_China", "en"),
    ],
)
def test_the_language_follows_the_environment(
    environ: dict[str, str], system: str | None, expected: str
) -> None:
    assert i18n.choose_language(environ, system) == expected


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--lang", "zh", "agent", "check"], "zh"),
        (["--lang=en", "agent", "check"], "en"),
        (["agent", "check", "--lang", "zh"], None),  # only the global option counts
        (["agent"], None),
        (["--lang"], None),
    ],
)
def test_the_lang_option_is_read_before_the_parser_is_built(
    argv: list[str], expected: str | None
) -> None:
    assert language_option(argv) == expected


def test_set_language_switches_the_messages_and_the_state_names(english: None) -> None:
    i18n.set_language("zh")
    assert i18n.current_language() == "zh_CN"
    assert i18n._("check passed") == "检查通过"
    assert [i18n.state_name(s) for s in ("running", "idle", "unknown")] == ["运行", "待机", "未知"]
    assert i18n.state_name("no-such-state") == "no-such-state"
    i18n.set_language("en")
    assert i18n._("check passed") == "check passed"
    assert i18n.state_name("running") == "running"


class _Kernel32:
    """Stands in for ctypes.windll.kernel32: answers GetUserDefaultUILanguage."""

    def __init__(self, lang_id: int) -> None:
        self.lang_id = lang_id

    def GetUserDefaultUILanguage(self) -> int:  # noqa: N802 - the Windows API's name
        return self.lang_id


@pytest.mark.parametrize(
    ("lang_id", "expected"),
    [(0x0804, "zh_CN"), (0x0404, "zh_CN"), (0x0C04, "zh_CN"), (0x0409, "en"), (0x0411, "en")],
)  # zh-CN, zh-TW, zh-HK; en-US, ja-JP (LANGIDs from the Windows language identifier table)
def test_on_windows_the_display_language_decides(lang_id: int, expected: str) -> None:
    assert i18n.windows_ui_language(_Kernel32(lang_id)) == expected
    assert i18n.choose_language({}, i18n.windows_ui_language(_Kernel32(lang_id))) == expected


def test_console_columns_count_chinese_characters_twice() -> None:
    assert i18n.columns("状态") == 4
    assert i18n.columns("state") == 5
    assert i18n.ljust("仪器", 6) == "仪器  "
    assert i18n.rjust("编号", 6) == "  编号"


def test_every_marked_module_imports_the_functions_it_calls() -> None:
    """A file that calls ``_()`` without importing it fails only when that line runs."""
    missing = []
    for folder in tool.SOURCES:
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            called = {
                node.func.id
                for node in ast.walk(tree)
                if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in tool.MARKERS
            }
            defined = {
                alias.asname or alias.name
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom)
                for alias in node.names
            } | {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
            missing += [f"{path.relative_to(ROOT)}: {name}" for name in called - defined]
    assert missing == []


COMMAND_MODULES = [
    "jishi/cli.py",
    "jishi/cli_parts.py",
    "agent/cli.py",
    "agent/check.py",
    "agent/commands.py",
    "agent/signin_cli.py",
    "agent/status_text.py",
    "agent/service.py",
    "collector/cli.py",
    "collector/admin.py",
    "collector/checks.py",
    "collector/run.py",
    "collector/report_cli.py",
    "collector/reports/cli_run.py",
]


# Errors a program's author meets, not its user: their texts stay English.
PROGRAMMING_ERRORS = {"ValueError", "TypeError", "KeyError", "RuntimeError", "AssertionError"}


def _words(text: ast.expr) -> bool:
    """Whether a literal or an f-string has words of its own (not only spaces and fields)."""
    parts = text.values if isinstance(text, ast.JoinedStr) else [text]
    return any(
        isinstance(part, ast.Constant)
        and isinstance(part.value, str)
        and re.search("[A-Za-z]{2,}", part.value)
        for part in parts
    )


def _untranslated_texts(tree: ast.AST) -> list[int]:
    """Lines where English text reaches the reader unmarked: a literal or f-string printed,
    raised in one of jishi's errors, or given as an argparse help, summary or description."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        shown = name == "print" or (name.endswith("Error") and name not in PROGRAMMING_ERRORS)
        texts = list(node.args[:1]) if shown else []
        texts += [k.value for k in node.keywords if k.arg in {"help", "summary", "description"}]
        found += [
            text.lineno
            for text in texts
            if isinstance(text, ast.JoinedStr | ast.Constant) and _words(text)
        ]
    return found


@pytest.mark.parametrize("module", COMMAND_MODULES)
def test_the_commands_print_no_unmarked_english(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    assert _untranslated_texts(tree) == [], f"{module}: wrap the text in _()"


def test_the_unmarked_text_check_finds_unmarked_text() -> None:
    source = (
        'print(f"wrote {x}")\nraise JishiError("no")\nadd(help="text")\nprint(_("ok"))\n'
        'print(f"{a:>4}  {b}")\nraise ValueError("a bug")\n'
    )
    assert _untranslated_texts(ast.parse(source)) == [1, 2, 3]
