"""The message catalog of jishi (issue 19): extract the marked messages from the source, keep
the Chinese .po in step with them, and compile it into the .mo the package ships.

    python scripts/i18n.py update    add new messages (empty translation), drop stale ones
    python scripts/i18n.py compile   write jishi.mo from jishi.po
    python scripts/i18n.py check     exit 1 if a message lacks a translation, the .po keeps a
                                     stale one, or the .mo does not match the .po

Messages are marked with ``_("...")``, ``N_("...")`` and ``ngettext("...", "...", n)``
(jishi/i18n.py); the extractor walks the syntax tree, so a marked call whose text is not a
literal is an error, not a silent gap. Pure Python, so neither GNU gettext nor Babel is
needed to build or test. The .mo layout is GNU's (the gettext manual, "The Format of GNU MO
Files"), which Python's gettext reads.
"""

from __future__ import annotations

import ast
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "jishi" / "locale" / "zh_CN" / "LC_MESSAGES"
PO_FILE = CATALOG / "jishi.po"
MO_FILE = CATALOG / "jishi.mo"
# The folders installed as jishi (pyproject.toml package-dir). The web console keeps its own
# catalog, so it is not scanned.
SOURCES = ("jishi", "agent", "collector", "drivers", "firmware_bridge")
SKIPPED = ("collector/console/",)
HEADER = (
    "Project-Id-Version: jishi\n"
    "Last-Translator: jishi maintainers\n"
    "Language-Team: jishi maintainers\n"
    "Language: zh_CN\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=UTF-8\n"
    "Content-Transfer-Encoding: 8bit\n"
    "Plural-Forms: nplurals=1; plural=0;\n"
)
MARKERS = {"_": 1, "N_": 1, "ngettext": 2}


class CatalogError(Exception):
    """A marked call the extractor cannot read, or a .po it cannot parse."""


@dataclass
class Entry:
    """One message: its id (and plural id) and the translations (one per plural form)."""

    msgid: str
    plural: str | None = None
    msgstr: list[str] = field(default_factory=lambda: [""])
    places: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.msgid, self.plural)

    @property
    def translated(self) -> bool:
        return all(text.strip() for text in self.msgstr)


def _marked(node: ast.Call) -> tuple[str, str | None] | None:
    """The message id (and plural) of a marked call, or None for any other call. ``_(name)``
    translates a value marked elsewhere with ``N_`` (a table entry) and yields nothing here;
    an f-string or a sum inside ``_()`` is an error: its text cannot be in the catalog."""
    name = node.func.id if isinstance(node.func, ast.Name) else None
    if name not in MARKERS:
        return None
    texts = node.args[: MARKERS[name]]
    literal = [isinstance(a, ast.Constant) and isinstance(a.value, str) for a in texts]
    if name == "_" and texts and not literal[0]:
        if isinstance(texts[0], ast.JoinedStr | ast.BinOp | ast.Constant):
            raise CatalogError(f"line {node.lineno}: _() of an f-string or expression")
        return None
    if len(texts) < MARKERS[name] or not all(literal):
        raise CatalogError(f"line {node.lineno}: {name}() needs literal text")
    values = [arg.value for arg in texts if isinstance(arg, ast.Constant)]
    return values[0], values[1] if name == "ngettext" else None


def extract(root: Path = ROOT) -> dict[tuple[str, str | None], list[str]]:
    """Every marked message in the source -> the files that use it. (No line numbers: they
    would change the .po at every edit of the code around a message.)"""
    found: dict[tuple[str, str | None], list[str]] = {}
    for folder in SOURCES:
        for path in sorted((root / folder).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if relative.startswith(SKIPPED):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), relative)
            calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
            # In the order of the file, so the .po reads like the code.
            for node in sorted(calls, key=lambda call: (call.lineno, call.col_offset)):
                try:
                    key = _marked(node)
                except CatalogError as exc:
                    raise CatalogError(f"{relative}: {exc}") from None
                places = found.setdefault(key, []) if key is not None else []
                if key is not None and relative not in places:
                    places.append(relative)
    return found


def _unquote(text: str, where: str) -> str:
    try:
        value = ast.literal_eval(text)
    except (SyntaxError, ValueError):
        raise CatalogError(f"{where}: not a quoted string: {text}") from None
    if not isinstance(value, str):
        raise CatalogError(f"{where}: not a quoted string: {text}")
    return value


def parse_po(text: str) -> list[Entry]:
    """The entries of a .po file (the header entry, msgid "", included)."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] = ("msgid", 0)
    places: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"line {number}"
        if line.startswith("#: "):
            places.extend(line[3:].split())
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            keyword, rest = "", line
        if keyword == "msgid":
            current = Entry(_unquote(rest, where), places=places)
            places = []
            entries.append(current)
            target = ("msgid", 0)
            continue
        if current is None:
            raise CatalogError(f"{where}: text before the first msgid")
        if keyword == "msgid_plural":
            current.plural, target = _unquote(rest, where), ("plural", 0)
        elif keyword.startswith("msgstr"):
            index = int(keyword[7:-1]) if keyword.startswith("msgstr[") else 0
            current.msgstr[index:] = [_unquote(rest, where)]
            target = ("msgstr", index)
        elif keyword == "":
            _append(current, target, _unquote(rest, where))
        else:
            raise CatalogError(f"{where}: unknown keyword {keyword!r}")
    return entries


def _append(entry: Entry, target: tuple[str, int], text: str) -> None:
    """A continuation line ``"..."`` adds to what the previous keyword started."""
    part, index = target
    if part == "msgid":
        entry.msgid += text
    elif part == "plural":
        entry.plural = (entry.plural or "") + text
    else:
        entry.msgstr[index] += text


def _quoted(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    lines = escaped.split("\n")
    pieces = [line + "\\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    if len(pieces) <= 1:
        return f'"{pieces[0] if pieces else ""}"'
    return '""\n' + "\n".join(f'"{piece}"' for piece in pieces)


def format_po(entries: Iterable[Entry]) -> str:
    """The .po text: the header, then each entry with the places that use it."""
    out = [
        "# Simplified Chinese messages of jishi (issue 19). Kept by scripts/i18n.py update;",
        "# translate the msgstr lines, then run scripts/i18n.py compile.",
        'msgid ""',
        f"msgstr {_quoted(HEADER)}",
    ]
    for entry in entries:
        if not entry.msgid:
            continue
        out.append("")
        out.extend(f"#: {place}" for place in entry.places)
        out.append(f"msgid {_quoted(entry.msgid)}")
        if entry.plural is None:
            out.append(f"msgstr {_quoted(entry.msgstr[0])}")
        else:
            out.append(f"msgid_plural {_quoted(entry.plural)}")
            out.extend(f"msgstr[{i}] {_quoted(text)}" for i, text in enumerate(entry.msgstr))
    return "\n".join(out) + "\n"


def compile_mo(entries: Iterable[Entry]) -> bytes:
    """The GNU .mo file of ``entries``: untranslated ones are left out (English shows)."""
    pairs: dict[bytes, bytes] = {b"": HEADER.encode()}
    for entry in entries:
        if not entry.msgid or not entry.translated:
            continue
        original = entry.msgid if entry.plural is None else f"{entry.msgid}\0{entry.plural}"
        pairs[original.encode()] = "\0".join(entry.msgstr).encode()
    keys = sorted(pairs)
    count = len(keys)
    originals_at = 7 * 4
    translations_at = originals_at + count * 8
    data_at = translations_at + count * 8
    data = b""
    table_o, table_t = [], []
    for key in keys:
        table_o.append((len(key), data_at + len(data)))
        data += key + b"\0"
    for key in keys:
        table_t.append((len(pairs[key]), data_at + len(data)))
        data += pairs[key] + b"\0"
    head = struct.pack("<7I", 0x950412DE, 0, count, originals_at, translations_at, 0, 0)
    tables = b"".join(struct.pack("<2I", *pair) for pair in table_o + table_t)
    return head + tables + data


def merge(entries: list[Entry], used: dict[tuple[str, str | None], list[str]]) -> list[Entry]:
    """The catalog for the messages in ``used``: known translations kept, new ones empty,
    stale ones dropped, in the order of their first use in the source (files by name)."""
    known = {entry.key: entry for entry in entries if entry.msgid}
    merged = []
    for key, places in used.items():
        old = known.get(key)
        merged.append(Entry(key[0], key[1], list(old.msgstr) if old else [""], places))
    return merged


def problems(root: Path = ROOT) -> list[str]:
    """What ``check`` reports: untranslated and stale messages, and a stale .mo."""
    entries = parse_po(PO_FILE.read_text(encoding="utf-8"))
    used = extract(root)
    known = {entry.key: entry for entry in entries if entry.msgid}
    found = [
        f"no Chinese translation: {key[0]!r} ({used[key][0]})"
        for key in used
        if key not in known or not known[key].translated
    ]
    found += [f"stale entry (not in the source): {key[0]!r}" for key in known if key not in used]
    if not MO_FILE.exists() or MO_FILE.read_bytes() != compile_mo(entries):
        found.append(f"{MO_FILE.relative_to(ROOT)} does not match the .po: run compile")
    return found


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "update":
        old = parse_po(PO_FILE.read_text(encoding="utf-8")) if PO_FILE.exists() else []
        PO_FILE.parent.mkdir(parents=True, exist_ok=True)
        PO_FILE.write_text(format_po(merge(old, extract())), encoding="utf-8")
        return 0
    if command == "compile":
        MO_FILE.write_bytes(compile_mo(parse_po(PO_FILE.read_text(encoding="utf-8"))))
        return 0
    if command == "check":
        found = problems()
        for problem in found:
            print(f"i18n: {problem}", file=sys.stderr)
        return 1 if found else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
