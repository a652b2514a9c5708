"""The exception tree shared by every part of jishi; adapters translate library errors into it."""

from __future__ import annotations

from jishi.i18n import N_, _, known_phrase


class JishiError(Exception):
    """Base of all errors jishi raises on purpose."""


class ConfigError(JishiError):
    """A config file is missing, unreadable or invalid. ``str()`` names file, key and problem."""

    def __init__(self, file: str, key: str | None, problem: str, hint: str | None = None) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        self.hint = hint
        where = f"{file}: {key}" if key else file
        text = f"{where}: {problem}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class ConfigErrors(ConfigError):  # noqa: N818 - a collection of ConfigError
    """Several problems in one file, reported together so a technician fixes them in one pass."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.file, first.key, first.problem, first.hint)
        self.args = ("\n".join(str(error) for error in errors),)

    def __str__(self) -> str:
        return str(self.args[0])


# The problems and hints jishi.config reads files with, as jishi.i18n.known_phrase patterns:
# they are raised in English (a ConfigError is data, in logs too) and shown by the command line
# in the reader's language (:func:`config_error_text`). tests/test_i18n.py raises each one.
CONFIG_PHRASES = [
    (r"file not found", N_("file not found")),
    (
        r"looked for (?P<path>.+); check the path given with -c",
        N_("looked for {path}; check the path given with -c"),
    ),
    (r"cannot read file: (?P<error>.+)", N_("cannot read file: {error}")),
    (r"not UTF-8 text", N_("not UTF-8 text")),
    (r"save the file as UTF-8", N_("save the file as UTF-8")),
    (r"(?s)TOML syntax error: (?P<detail>.+)", N_("TOML syntax error: {detail}")),
    (
        r"line (?P<line>\d+): in double quotes a backslash starts an escape; write a Windows "
        r"path with / \((?P<slash>.+)\) or in single quotes \((?P<single>.+)\)",
        N_(
            "line {line}: in double quotes a backslash starts an escape; write a Windows path "
            "with / ({slash}) or in single quotes ({single})"
        ),
    ),
    (r"cannot read: (?P<error>.+)", N_("cannot read: {error}")),
    (r"variable (?P<env>\S+) is not set", N_("variable {env} is not set")),
    (
        r"set (?P<env>\S+) before starting the (?P<who>.+)",
        N_("set {env} before starting the {who}"),
    ),
]


def config_error_text(exc: ConfigError) -> str:
    """``str(exc)`` in the reader's language: file and key as they are, the problem and the
    hint translated where they are one of :data:`CONFIG_PHRASES` (or were made so already)."""
    errors = exc.errors if isinstance(exc, ConfigErrors) else [exc]
    return "\n".join(_config_error_line(error) for error in errors)


def _config_error_line(error: ConfigError) -> str:
    where = f"{error.file}: {error.key}" if error.key else error.file
    problem = known_phrase(error.problem, CONFIG_PHRASES)
    if not error.hint:
        return f"{where}: {problem}"
    hint = known_phrase(error.hint, CONFIG_PHRASES)
    return _("{where}: {problem} ({hint})").format(where=where, problem=problem, hint=hint)


# Which ``pip install 'jishi[...]'`` extra each command's optional libraries come from
# (pyproject.toml): a command run on the wrong install says which extra to add (issue 14).
EXTRA_OF_COMMAND = {
    "agent": "agent",
    "collector": "collector",
    "report": "collector",
    "bridge": "bridge",
    "demo": "demo",
}


# Drivers put this advice into read errors in English, where the check recognises it by its
# words (:func:`says_missing_package`); the command line shows it translated (issue 19).
MISSING_PACKAGE = N_(
    "the Python module {name!r} is not installed (it comes with the {extra} extra); "
    "install it with: pip install 'jishi[{extra}]'"
)


def missing_package(exc: ImportError, extra: str, template: str = MISSING_PACKAGE) -> str:
    """``No module named 'serial'`` as advice: the extra that brings it, and how to add it
    (``template``: :data:`MISSING_PACKAGE`, or its translation)."""
    return template.format(name=exc.name or str(exc), extra=extra)


def says_missing_package(text: str | None) -> bool:
    """Whether an error text (a read error) is :func:`missing_package`'s advice."""
    return text is not None and "install it with: pip install 'jishi[" in text
