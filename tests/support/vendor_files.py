"""Small files in vendor formats, written here for tests (the real samples stay in
../shared/samples): an FCS header and a TopSpin audit trail entry."""

from __future__ import annotations

from datetime import UTC, datetime


def fcs_bytes(keywords: dict[str, str]) -> bytes:
    """An FCS 3.0 file holding only a HEADER and a TEXT segment with ``keywords``
    (delimiter ``|``, doubled inside values, as FCS 3.0 section 3.2.9 says)."""
    text = "|" + "".join(
        f"{k.replace('|', '||')}|{v.replace('|', '||')}|" for k, v in keywords.items()
    )
    body = text.encode("utf-8")
    header = f"FCS3.0    {58:>8}{57 + len(body):>8}{0:>8}{0:>8}{0:>8}{0:>8}".encode("ascii")
    return header + body


def fcs_run(start: datetime, end: datetime) -> bytes:
    """An FCS file of one acquisition from ``start`` to ``end`` (local wall-clock times)."""
    return fcs_bytes(
        {
            "$DATE": start.strftime("%d-%b-%Y").upper(),
            "$BTIM": start.strftime("%H:%M:%S"),
            "$ETIM": end.strftime("%H:%M:%S"),
            "$TOT": "10000",
        }
    )


def _topspin_time(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S.") + f"{utc.microsecond // 1000:03d} +0000"


def topspin_audita(started: datetime, finished: datetime, *, user: str = "LAB\\nmr-user") -> str:
    """An ``audita.txt`` as TopSpin leaves it in an experiment folder after ``zg``: one entry,
    written when the acquisition ends, whose own time is the end and whose text says when it
    started."""
    return (
        "##TITLE= Audit trail, TopSpin 4.1.4\n"
        "##JCAMPDX= 5.01\n"
        "##ORIGIN= Bruker BioSpin GmbH\n"
        "##AUDIT TRAIL=  $$ (NUMBER, WHEN, WHO, WHERE, PROCESS, VERSION, WHAT)\n"
        f"(   1,<{_topspin_time(finished)}>,<{user}>,<NMR-PC>,<go4>,<TopSpin 4.1.4>,\n"
        "      <created by zg\n"
        f"\tstarted at {_topspin_time(started)},\n"
        "\tPOWCHK enabled, PULCHK disabled>)\n"
        "##END=\n"
    )
