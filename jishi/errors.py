"""The exception tree shared by every part of jishi; adapters translate library errors into it."""

from __future__ import annotations


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
