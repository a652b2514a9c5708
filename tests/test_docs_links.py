"""Every relative link in the documentation resolves, in both languages (issue 19).

Checked: README.md, README.zh-CN.md and docs/**/*.md. A link is an inline link or image
(``[text](target)``, ``![alt](target)``) or a reference definition (``[name]: target``) outside
code. A target with a scheme (``https:``, ``mailto:``) is left alone; any other must name a
file or folder that exists, and an ``#anchor`` into a Markdown file must be one of its
headings' GitHub anchors or an explicit ``<a id|name="...">``.

GitHub's anchors (github-slugger, which github.com uses for rendered Markdown): the heading's
text without its Markdown, lower-cased, every character dropped that is not a letter, a mark, a
digit, a connector (``_``), a space or a hyphen, then each space turned into a hyphen; a
repeated anchor gets ``-1``, ``-2``, ... So ``## 核对 / Reconciliation`` is
``#核对--reconciliation`` and ``## Agents' clocks`` is ``#agents-clocks``. Chinese characters
are letters and stay; a link may give them percent-encoded.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target) and ![alt](target); the text may hold one level of brackets.
_INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s()]*)(?:\s+[\"'(][^)]*)?\)")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
_HTML_ANCHOR = re.compile(r"<a\s+[^>]*?(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_MD_LINK_TEXT = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def doc_files(root: Path) -> list[Path]:
    """The Markdown files the check covers, below ``root``."""
    files = [root / name for name in ("README.md", "README.zh-CN.md") if (root / name).is_file()]
    return files + sorted((root / "docs").glob("**/*.md"))


def prose_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` for every line outside fenced code blocks."""
    lines: list[tuple[int, str]] = []
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        opened = _FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)
        elif fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
        else:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (module docstring)."""
    text = _MD_LINK_TEXT.sub(r"\1", heading).lower()
    kept = [
        ch
        for ch in text
        if ch in " -" or unicodedata.category(ch)[0] in "LMN" or unicodedata.category(ch) == "Pc"
    ]
    return "".join(kept).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a Markdown text offers: its headings' slugs and explicit HTML anchors."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _number, line in prose_lines(text):
        found.update(_HTML_ANCHOR.findall(line))
        heading = _HEADING.match(line)
        if heading is None:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def link_targets(text: str) -> list[tuple[int, str]]:
    """``(line number, target)`` of every link outside code."""
    targets: list[tuple[int, str]] = []
    for number, line in prose_lines(text):
        bare = _CODE_SPAN.sub("", line)
        found = [m.group(1) for m in _INLINE.finditer(bare)]
        reference = _REFERENCE.match(bare)
        if reference:
            found.append(reference.group(1))
        targets += [(number, target.strip("<>")) for target in found]
    return targets


def broken_links(root: Path, files: list[Path]) -> list[str]:
    """``file:line: target: why`` for every relative link in ``files`` that does not resolve."""
    problems: list[str] = []
    texts: dict[Path, str] = {}

    def text_of(path: Path) -> str:
        if path not in texts:
            texts[path] = path.read_text(encoding="utf-8")
        return texts[path]

    for path in files:
        for number, target in link_targets(text_of(path)):
            if not target or _SCHEME.match(target):
                continue
            where = f"{path.relative_to(root)}:{number}: {target}"
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / unquote(file_part)).resolve() if file_part else path
            if not resolved.exists():
                problems.append(f"{where}: no such file or folder")
            elif (
                anchor
                and resolved.suffix == ".md"
                and unquote(anchor) not in anchors(text_of(resolved))
            ):
                problems.append(f"{where}: no heading or anchor '#{unquote(anchor)}'")
    return problems


def test_every_relative_link_in_the_docs_resolves() -> None:
    files = doc_files(ROOT)
    assert ROOT / "README.zh-CN.md" in files
    assert any(f.parent == ROOT / "docs" / "zh" for f in files), "docs/zh/ is missing"
    assert broken_links(ROOT, files) == []


def test_readmes_link_to_each_other() -> None:
    english = [t for _n, t in link_targets((ROOT / "README.md").read_text("utf-8"))]
    chinese = [t for _n, t in link_targets((ROOT / "README.zh-CN.md").read_text("utf-8"))]
    assert "README.zh-CN.md" in english
    assert "README.md" in chinese


def test_every_chinese_page_is_in_the_index() -> None:
    """A page of docs/zh/ that its index does not link is a page no reader finds."""
    index = ROOT / "docs" / "zh" / "README.md"
    linked = {
        (index.parent / t.partition("#")[0]).resolve()
        for _n, t in link_targets(index.read_text("utf-8"))
        if t.partition("#")[0]
    }
    pages = set((ROOT / "docs" / "zh").glob("*.md")) - {index}
    assert pages, "docs/zh/ has no pages"
    assert sorted(p.name for p in pages if p.resolve() not in linked) == []


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("核对 / Reconciliation", "核对--reconciliation"),
        ("Agents' clocks", "agents-clocks"),
        ("Broker set-up (Mosquitto)", "broker-set-up-mosquitto"),
        ("`modbus`: energy meters and PLCs", "modbus-energy-meters-and-plcs"),
        ("现场检查：`jishi agent check`", "现场检查jishi-agent-check"),
        ("有效工作机时（effective_s）", "有效工作机时effective_s"),
        ("See [drivers](drivers.md) first", "see-drivers-first"),
        ("1. Turn the sink on", "1-turn-the-sink-on"),
    ],
)
def test_slug_follows_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_broken_link_fails_the_check(tmp_path: Path) -> None:
    docs = tmp_path / "docs" / "zh"
    docs.mkdir(parents=True)
    (tmp_path / "README.md").write_text("[中文](README.zh-CN.md)\n", encoding="utf-8")
    (tmp_path / "README.zh-CN.md").write_text(
        "# 机时\n\n[English](README.md) · [术语](docs/zh/glossary.md#有效工作机时)\n",
        encoding="utf-8",
    )
    (docs / "glossary.md").write_text(
        '# 术语表\n\n## 有效工作机时\n\n## 示例\n\n## 示例\n\n<a id="raw"></a>\n'
        "```sh\n# not-a-heading\n[x](inside-code.md)\n```\n"
        "[ok](#示例-1) [ok](#%E7%A4%BA%E4%BE%8B) [ok](#raw) `[x](in-a-code-span.md)`\n"
        "[web](https://example.org/missing) [mail](mailto:a@example.org)\n",
        encoding="utf-8",
    )
    assert broken_links(tmp_path, doc_files(tmp_path)) == []

    (docs / "ops.md").write_text(
        "# 运维\n\n"
        "[gone](missing.md)\n"
        "[wrong anchor](glossary.md#共享率)\n"
        "[code heading](glossary.md#not-a-heading)\n"
        "[self](#运维) [self wrong](#运维-1)\n"
        "[ref]: ../../nowhere/\n",
        encoding="utf-8",
    )
    problems = broken_links(tmp_path, doc_files(tmp_path))
    assert problems == [
        "docs/zh/ops.md:3: missing.md: no such file or folder",
        "docs/zh/ops.md:4: glossary.md#共享率: no heading or anchor '#共享率'",
        "docs/zh/ops.md:5: glossary.md#not-a-heading: no heading or anchor '#not-a-heading'",
        "docs/zh/ops.md:6: #运维-1: no heading or anchor '#运维-1'",
        "docs/zh/ops.md:7: ../../nowhere/: no such file or folder",
    ]
