"""The exception tree shared by every part of jishi; adapters translate library errors into it."""

from __future__ import annotations

from jishi.i18n import N_


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
