"""The commands in Chinese and in English (issue 19), as a technician meets them: jishi agent
check, sign-in and sign-out run as processes under a Chinese and a C locale, argparse's help and
errors, config errors (validators' phrases, file problems), an import's bad rows."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from jishi import i18n
from jishi.errors import CONFIG_PHRASES, ConfigError, ConfigErrors, config_error_text

from support.cli import jishi_command
from support.servers import Mosquitto
from support.signin import signin_config

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile("[\u4e00-\u9fff]")


@pytest.fixture
def english() -> Iterator[None]:
    """The process's language set for one test, then chosen afresh for the next."""
    yield
    i18n.set_language(None)


def _locale_env(**variables: str) -> dict[str, str]:
    """This process's environment with only ``variables`` choosing the language."""
    chosen = ("LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES")
    env = {k: v for k, v in os.environ.items() if k not in chosen}
    return {**env, **variables}


def _agent_check(
    env: dict[str, str], *args: str, options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """``jishi [options] agent check -c examples/agent-sim.toml [args]`` as a process."""
    command = jishi_command(*options, "agent", "check", "-c", "examples/agent-sim.toml", *args)
    return subprocess.run(
        command, capture_output=True, text=True, encoding="utf-8", timeout=60, cwd=ROOT, env=env
    )


@pytest.mark.integration  # runs jishi agent check as a process against a real Mosquitto
def test_agent_check_prints_its_report_in_chinese_under_a_chinese_locale(
    mosquitto_session: Mosquitto,
) -> None:
    env = _locale_env(LANG="zh_CN.UTF-8")
    result = _agent_check(env, "--broker", mosquitto_session.url)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("配置 examples/agent-sim.toml：有效（3 台仪器")
    assert "仪器 nmr-600（600 MHz NMR spectrometer）：" in lines
    assert any(re.fullmatch(r"  状态：(运行|待机|关机|故障|维护)（.*）", line) for line in lines)
    assert f"MQTT 服务器 {mosquitto_session.url}：已连接（3.1.1, no TLS）" in lines
    assert lines[-1] == "检查通过"


@pytest.mark.integration  # runs jishi agent check as a process
@pytest.mark.parametrize(
    ("env", "options", "chinese"),
    [
        ({"LANG": "C"}, (), False),
        ({"LANG": "C.UTF-8", "LANGUAGE": "zh_CN"}, (), False),
        ({"LANG": "C"}, ("--lang", "zh"), True),
        ({"LC_ALL": "zh_CN.UTF-8"}, ("--lang", "en"), False),
        ({"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, (), True),
    ],
)
def test_agent_check_answers_in_english_unless_chinese_is_asked_for(
    env: dict[str, str], options: tuple[str, ...], chinese: bool
) -> None:
    result = _agent_check(_locale_env(**env), "--no-broker", options=options)
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.splitlines()[-1]
    assert last == ("检查通过" if chinese else "check passed")
    # Instrument names are English in the example, so English output has no Chinese at all.
    assert bool(CJK.search(result.stdout)) is chinese


def test_the_agent_help_and_argparse_errors_are_in_chinese(
    english: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from jishi.cli import main

    monkeypatch.setenv("COLUMNS", "80")  # argparse's width
    with pytest.raises(SystemExit):
        main(["--lang", "zh", "agent", "check", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("用法：jishi agent check [-h] -c FILE")
    assert "供现场技术人员使用" in out and "跳过 MQTT 服务器测试" in out
    assert "  -h, --help            显示本帮助并退出" in out.splitlines()
    # Wrapped by console columns: a Chinese character takes two.
    assert max(i18n.columns(line) for line in out.splitlines()) <= 80, out
    with pytest.raises(SystemExit) as stopped:
        main(["--lang", "zh", "agent", "check"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "jishi agent check：错误：缺少必需的参数：-c/--config"
    with pytest.raises(SystemExit):
        main(["--lang", "en", "agent", "check"])
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "jishi agent check: error: the following arguments are required: -c/--config"
    )


def _jishi(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        jishi_command(*args),
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        env=env,
    )


@pytest.mark.integration  # runs jishi agent sign-in / sign-out as processes
def test_sign_in_and_the_feedback_questions_are_asked_in_chinese(tmp_path: Path) -> None:
    config = signin_config(tmp_path)
    env = _locale_env(LANG="zh_CN.UTF-8")
    signed_in = _jishi(env, "agent", "sign-in", "-c", str(config), stdin="0012345678\n")
    assert signed_in.returncode == 0, signed_in.stderr
    assert signed_in.stderr == "账号或刷卡："
    assert signed_in.stdout.startswith("0012345678 已在 nmr-1 签到：已排队等待代理程序发送（")
    # The technician answers in Chinese: 故障 is understood, and the sample count is kept.
    signed_out = _jishi(env, "agent", "sign-out", "-c", str(config), "--ask", stdin="故障\n3\n")
    assert signed_out.returncode == 0, signed_out.stderr
    assert signed_out.stderr == "仪器状态 正常/故障（回车：正常）：样品数（回车：跳过）："
    assert signed_out.stdout.startswith("已在 nmr-1 签退：")
    requests = sorted((tmp_path / "data").rglob("*.json"))
    assert [json.loads(p.read_text(encoding="utf-8"))["action"] for p in requests] == [
        "sign-in",
        "sign-out",
    ]
    feedback = json.loads(requests[1].read_text(encoding="utf-8"))
    assert (feedback["outcome"], feedback["sample_count"]) == ("fault", 3)
    # No account: the error is Chinese too, through the command's error boundary.
    empty = _jishi(env, "agent", "sign-in", "-c", str(config), stdin="\n")
    assert empty.returncode == 1
    assert empty.stderr.endswith("错误：未输入账号\n")


@pytest.mark.parametrize(
    ("message", "chinese"),
    [
        ("Input should be greater than or equal to 5", "应大于或等于 5"),
        ("Input should be less than 0.5", "应小于 0.5"),
        ("Input should be a valid integer", "应为整数"),
        ("Input should be '3.1.1' or '5'", "应为 '3.1.1' or '5' 之一"),
        ("String should have at least 1 character", "字符串至少应有 1 个字符"),
        # Not a known phrase (a validator's own words): shown as it is.
        ("give password_file or password_env, not both", None),
        ("Input should be a valid URL", None),
    ],
)
def test_the_validators_fixed_phrases_are_translated(
    english: None, message: str, chinese: str | None
) -> None:
    i18n.set_language("en")
    assert i18n.validator_message(message) == message
    i18n.set_language("zh")
    assert i18n.validator_message(message) == (chinese or message)


BAD_CONFIG = """site = "lab"
heartbeat_interval_s = "often"
colour = "blue"
[mqtt]
keepalive_s = 2
[[instruments]]
name = "x"
[instruments.source]
driver = "simulated"
"""


@pytest.mark.integration  # runs jishi agent check as a process
def test_config_errors_name_file_and_key_and_say_the_problem_in_the_readers_language(
    tmp_path: Path,
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(BAD_CONFIG, encoding="utf-8")
    chinese = _jishi(_locale_env(LANG="zh_CN.UTF-8"), "agent", "check", "-c", str(config))
    assert chinese.returncode == 2
    assert chinese.stderr.startswith(f"错误：{config}: ")
    # (All problems at once, in the validator's order, which this test leaves open.)
    assert set(chinese.stderr.removeprefix("错误：").splitlines()) == {
        f"{config}: heartbeat_interval_s: 应为数字，无法把字符串解析为数字（实际为 'often'）",
        f"{config}: mqtt.keepalive_s: 应大于或等于 5（实际为 2）",
        f"{config}: instruments[0].id: 缺少必填的键",
        f"{config}: colour: 未知的键（请对照文档检查拼写）",
    }
    english = _jishi(_locale_env(LANG="C"), "agent", "check", "-c", str(config))
    assert english.returncode == 2
    assert english.stderr.startswith(f"error: {config}: ")
    assert set(english.stderr.removeprefix("error: ").splitlines()) == {
        f"{config}: heartbeat_interval_s: Input should be a valid number, unable to "
        "parse string as a number (got 'often')",
        f"{config}: mqtt.keepalive_s: Input should be greater than or equal to 5 (got 2)",
        f"{config}: instruments[0].id: required key is missing",
        f"{config}: colour: unknown key (check the spelling against the docs)",
    }


def test_an_import_with_bad_rows_says_so_in_chinese(
    english: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The frame is translated; each row's problem is the parser's own words."""
    from jishi.cli import main

    csv_file = tmp_path / "预约记录.csv"
    csv_file.write_text(
        "instrument,start,end\nghost,2025-06-15 08:00,2025-06-15 09:00\n", encoding="utf-8"
    )
    db = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    example = str(ROOT / "examples" / "collector.toml")
    command = ["collector", "import-sessions", "-c", example, "--db", db, str(csv_file)]
    assert main(["--lang", "zh", *command]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{csv_file}：1 行有误，未导入任何数据：",
        "第 2 行：unknown instrument 'ghost'",
    ]
    assert main(["--lang", "en", *command]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{csv_file}: 1 bad row(s), nothing imported:",
        "line 2: unknown instrument 'ghost'",
    ]


def _config_errors(tmp_path: Path) -> list[ConfigError]:
    """Every fixed problem jishi.config reads files with, raised for real."""
    from jishi.config import read_secret, read_toml

    not_utf8 = tmp_path / "gbk.toml"
    not_utf8.write_bytes('site = "实验室"\n'.encode("gbk"))
    backslash = tmp_path / "windows.toml"
    backslash.write_text('data_dir = "C:\\ProgramData\\XRD"\n', encoding="utf-8")
    attempts = [
        lambda: read_toml(tmp_path / "missing.toml"),
        lambda: read_toml(tmp_path),  # a folder: cannot read file
        lambda: read_toml(not_utf8),
        lambda: read_toml(backslash),
        lambda: read_secret(tmp_path / "no-password", None, "mqtt.password", "agent"),
        lambda: read_secret(None, "JISHI_TEST_UNSET_VARIABLE", "mqtt.password", "agent"),
    ]
    errors = []
    for attempt in attempts:
        with pytest.raises(ConfigError) as caught:
            attempt()
        errors.append(caught.value)
    return errors


def test_config_file_errors_are_shown_in_the_readers_language(
    english: None, tmp_path: Path
) -> None:
    errors = _config_errors(tmp_path)
    i18n.set_language("en")
    assert [config_error_text(e) for e in errors] == [str(e) for e in errors]
    i18n.set_language("zh")
    matched = set()
    for error in errors:
        text = config_error_text(error)
        assert text.startswith(f"{error.file}: " + (f"{error.key}: " if error.key else ""))
        for part in (error.problem, error.hint):
            if part is not None:
                matched |= {p for p, _ in CONFIG_PHRASES if re.fullmatch(p, part)}
                assert part not in text, text  # translated, not passed through
        assert CJK.search(text), text
    assert matched == {pattern for pattern, _ in CONFIG_PHRASES}, "a phrase no error has"
    several = ConfigErrors(errors[:2])
    assert config_error_text(several).splitlines() == [config_error_text(e) for e in errors[:2]]
