"""``jishi agent sign-in`` / ``sign-out``: the sign-in point at a PC without per-user accounts.

The command writes one request file into the spool folder of the instrument's ``signin``
source (drivers/signin.py) and returns; the running agent (or the next one to start) turns it
into a session message through its outbox. So signing in works while the agent is stopped or
the network is down. A USB card reader that types the card number and Enter works as the
keyboard: run the command without an account and swipe.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path

from jishi.agent.config import AgentConfig, InstrumentConfig
from jishi.agent.paths import resolve_data_dir
from jishi.drivers.signin import spool_dir
from jishi.drivers.signin_desk import MAX_SAMPLES, Request
from jishi.errors import JishiError
from jishi.i18n import _

OUTCOME_WORDS = {"normal": "normal", "正常": "normal", "fault": "fault", "故障": "fault"}


def sign_in(args: argparse.Namespace) -> int:
    return _submit(args, "sign-in")


def sign_out(args: argparse.Namespace) -> int:
    return _submit(args, "sign-out")


def _submit(args: argparse.Namespace, action: str) -> int:
    from jishi.agent.sources import load_agent_config

    config_path = Path(args.config)
    config, _digest = load_agent_config(config_path)
    instrument, source, configured = _signin_source(config, args.instrument)
    data_dir = resolve_data_dir(args.data_dir, config.data_dir, config_path)
    spool = spool_dir(data_dir, instrument.id, source)
    if configured is not None:  # relative to the config file, as the agent reads it
        spool = config_path.resolve().parent / Path(configured).expanduser()
    account = args.account
    if account is None and action == "sign-in":
        account = _ask(_("account or card number: "))
        if not account:
            raise JishiError(_("no account given"))
    outcome, samples = getattr(args, "outcome", None), getattr(args, "samples", None)
    if action == "sign-out" and getattr(args, "ask", False):
        outcome = outcome or _ask_outcome()
        if samples is None:
            text = _ask(_("samples measured (Enter: skip): "))
            samples = int(text) if text.isdigit() else None
    if samples is not None and not 0 <= samples <= MAX_SAMPLES:
        raise JishiError(
            _("samples must be between 0 and {most}, got {count}").format(
                most=MAX_SAMPLES, count=samples
            )
        )
    request = Request(
        ts=datetime.now(UTC),
        action=action,
        account=account,
        user_type=getattr(args, "user_type", None),
        org=getattr(args, "org", None),
        outcome=outcome,
        sample_count=samples,
    )
    path = write_request(spool, request)
    if action == "sign-in":
        done = _("{account} signed in at {instrument}: queued for the agent ({file})")
    elif account:
        done = _("{account} signed out at {instrument}: queued for the agent ({file})")
    else:
        done = _("signed out at {instrument}: queued for the agent ({file})")
    print(done.format(account=account, instrument=instrument.id, file=path.name))
    return 0


def _signin_source(
    config: AgentConfig, wanted: str | None
) -> tuple[InstrumentConfig, str, str | None]:
    """The instrument (``--instrument``, or the only one with a ``signin`` source), the name
    of its ``signin`` source and the source's ``spool_dir`` if set."""
    found = []
    for inst in config.instruments:
        for name, source in zip(inst.source_names(), inst.all_sources(), strict=True):
            if source.driver == "signin" and (wanted is None or wanted == inst.id):
                spool = source.options.get("spool_dir")
                found.append((inst, name, spool if isinstance(spool, str) else None))
    if len(found) == 1:
        return found[0]
    if not found:
        if wanted:
            problem = _("no 'signin' source on instrument {id!r} in the config (docs/drivers.md)")
        else:
            problem = _("no 'signin' source on any instrument in the config (docs/drivers.md)")
        raise JishiError(problem.format(id=wanted))
    ids = ", ".join(inst.id for inst, _name, _spool in found)
    raise JishiError(
        _("several instruments have a sign-in point ({ids}): give --instrument").format(ids=ids)
    )


def write_request(spool: Path, request: Request) -> Path:
    """One request file, durable and whole before it gets its ``.json`` name."""
    import json

    spool.mkdir(parents=True, exist_ok=True)
    stamp = request.ts.strftime("%Y%m%dT%H%M%S%f")
    path = spool / f"{stamp}-{secrets.token_hex(3)}.json"
    temporary = path.with_suffix(".part")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(request.to_json(), handle, ensure_ascii=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path


def _ask(prompt: str) -> str:
    print(prompt, end="", flush=True, file=sys.stderr)
    return sys.stdin.readline().strip()


def _ask_outcome() -> str | None:
    answer = _ask(_("instrument normal or fault, 正常/故障 (Enter: normal): "))
    return OUTCOME_WORDS.get(answer.lower(), "normal")
