"""Every log profile end to end: the states and running intervals its files imply.

Each test runs with the same assertions on two sets of files: ``ours``, our own small files in the
vendor's format (tests/fixtures, written here with invented content, so every clone tests every
profile), and ``vendor``, the real vendor files in ../shared/samples (skipped, saying why, where
they are absent; support/samples.py). Folders are laid out in tmp_path as the instrument writes
them: ours are copied, the vendor files are linked (never copied); the vendor's FCS and EPU folders
are rebuilt from the extracted real headers and timeline.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jishi.drivers.logs import LogDriver
from jishi.drivers.options import load_profile_tables

from support.driver_runs import FakeClock, intervals, poll_until_quiet, transitions, utc
from support.samples import FIXTURES, own_fixture, vendor_samples
from support.vendor_files import fcs_bytes

NOW = datetime(2026, 3, 1, tzinfo=UTC)

# Builds the folder a source watches under tmp_path and returns it.
Layout = Callable[[Path], Path]
Span = tuple[datetime, datetime | None]

# Our own files for each shipped profile (tests/fixtures/<folder>), used by the tests below.
OWN_FILES: dict[str, tuple[str, ...]] = {
    "illumina": (
        "illumina-nextseq",
        "illumina-nextseq-failed",
        "illumina-novaseqx",
        "illumina-miseq",
    ),
    "bruker-topspin": ("bruker-topspin",),
    "minknow": ("ont-minknow",),
    "serialem": ("cryoem-serialem",),
    "epu": ("cryoem-epu",),
    "fcs": ("flowcytometry-fcs",),
    "generic": ("generic",),
}


def ours(folder: str) -> Layout:
    """Copy our own ``folder`` of tests/fixtures into tmp_path and watch the copy."""

    def lay_out(tmp_path: Path) -> Path:
        target = tmp_path / "ours" / folder
        shutil.copytree(own_fixture(folder), target)
        return target

    return lay_out


def link(target: Path, link_path: Path) -> None:
    link_path.parent.mkdir(parents=True, exist_ok=True)
    link_path.symlink_to(target)


def run_profile(profile: str, path: Path, **options: Any) -> list[Any]:
    clock = FakeClock()
    driver = LogDriver.from_options(profile, {"profile": profile, "path": str(path), **options})
    driver._clock = clock
    readings = poll_until_quiet(driver, clock, NOW)
    assert all(r.ok for r in readings), [r.error for r in readings]
    driver.close()
    return transitions(readings)


def one_run(case: str, lay_out: Layout, timezone: str, start: str, end: str) -> Any:
    """A parameter set of a folder whose files show one run from ``start`` to ``end``."""
    return pytest.param(lay_out, timezone, [(utc(start), utc(end))], id=case)


def vendor_nextseq(tmp_path: Path) -> Path:
    src = vendor_samples("illumina-nextseq-runscanner")
    run = tmp_path / "runs" / "170609_NB551051_0017_AHLFFJBGX2"
    prefix = "illumina__170609_NB551051_0017_AHLFFJBGX2__"
    for name in ("RTAComplete.txt", "RTARead1Complete.txt", "RTARead2Complete.txt",
                 "RTARead3Complete.txt", "RunCompletionStatus.xml"):  # fmt: skip
        link(src / f"{prefix}{name}", run / name)
    link(src / "RTALogs__20170609-2057_FileCopyLog_00.HEAD150.tsv",
         run / "RTALogs" / "20170609-2057_FileCopyLog_00.tsv")  # fmt: skip
    link(src / "RTALogs__20170609-2057_GlobalLog_06.TAIL400.tsv",
         run / "RTALogs" / "20170609-2057_GlobalLog_06.tsv")  # fmt: skip
    return tmp_path / "runs"


@pytest.mark.parametrize(
    ("lay_out", "timezone", "expected"),
    [
        one_run("ours", ours("illumina-nextseq"), "Asia/Shanghai",
                "2026-02-27T09:03:12+08:00", "2026-02-28T01:22:47+08:00"),
        one_run("vendor", vendor_nextseq, "America/Toronto",
                "2017-06-09T20:57:08-04:00", "2017-06-10T14:09:31-04:00"),
    ],
)  # fmt: skip
def test_illumina_nextseq_run_from_rta_log_to_rtacomplete(
    lay_out: Layout, timezone: str, expected: list[Span], tmp_path: Path
) -> None:
    changes = run_profile("illumina", lay_out(tmp_path), timezone=timezone)
    assert intervals(changes) == expected
    assert [c.state.value for c in changes] == ["running", "idle"]  # CompletedAsPlanned: no fault


def test_illumina_run_that_ended_early_is_a_fault(tmp_path: Path) -> None:
    """RunCompletionStatus other than CompletedAsPlanned: the run ends in a fault, dated by
    the file's modification time (the status file holds no time). None of the vendor runs
    failed, so only our files test this rule."""
    folder = ours("illumina-nextseq-failed")(tmp_path)
    ended = utc("2026-02-26T11:07:00+08:00")
    status = next(folder.glob("*/RunCompletionStatus.xml"))
    os.utime(status, (ended.timestamp(), ended.timestamp()))
    changes = run_profile("illumina", folder, timezone="Asia/Shanghai")
    assert [(c.state.value, c.since) for c in changes] == [
        ("running", utc("2026-02-26T08:41:27+08:00")),
        ("fault", ended),
    ]


def vendor_novaseqx(tmp_path: Path) -> Path:
    src = vendor_samples("illumina-novaseqx-runscanner")
    for run_id in ("20230418_LH00130_0003_B223YTFLT3", "20240531_LH00130_0061_A22CC55LT4"):
        link(src / f"illumina__{run_id}__RunCompletionStatus.xml",
             tmp_path / run_id / "RunCompletionStatus.xml")  # fmt: skip
    return tmp_path


@pytest.mark.parametrize(
    ("lay_out", "expected"),
    [
        pytest.param(
            ours("illumina-novaseqx"),
            [
                (utc("2026-01-05T19:02:11.441726+08:00"), utc("2026-01-06T16:40:05.03125+08:00")),
                (
                    utc("2026-02-12T08:30:00.5+08:00"),
                    utc("2026-02-13T20:10:00.25+08:00")
                    + timedelta(hours=1, minutes=30, seconds=15.25)  # wash
                    + timedelta(minutes=3),  # post-run protocol
                ),
            ],
            id="ours",
        ),
        pytest.param(
            vendor_novaseqx,
            [
                (utc("2023-04-18T15:26:54.860751-04:00"), utc("2023-04-19T14:43:18.710500-04:00")),
                (
                    utc("2024-05-31T17:52:16.925339-04:00"),
                    utc("2024-06-02T11:51:29.339373-04:00")
                    + timedelta(hours=1, minutes=48, seconds=29.155765)
                    + timedelta(minutes=2, seconds=57.89229),
                ),
            ],
            id="vendor",
        ),
    ],
)
def test_illumina_novaseqx_run_includes_post_run_wash(
    lay_out: Layout, expected: list[Span], tmp_path: Path
) -> None:
    # The times carry their offset: the source's timezone must not move them.
    changes = run_profile("illumina", lay_out(tmp_path), timezone="America/Toronto")
    assert intervals(changes) == expected


def vendor_miseq(tmp_path: Path) -> Path:
    src = vendor_samples("illumina-miseq-miniseq-umbra")
    good = "180101_M00000_0000_000000000-XXXXX"
    link(src / f"runs__miseq__{good}__RTAComplete.txt", tmp_path / "ok" / good / "RTAComplete.txt")
    link(src / f"runs__miseq-errored__{good}__CompletedJobInfo.xml",
         tmp_path / "bad" / good / "CompletedJobInfo.xml")  # fmt: skip
    link(src / "runs__miniseq__180103_M000000_0000_0000000000__RTAComplete.txt",
         tmp_path / "ok" / "180103_M000000_0000_0000000000" / "RTAComplete.txt")  # fmt: skip
    return tmp_path


@pytest.mark.parametrize(
    ("lay_out", "timezone", "idle_at", "fault_at"),
    [
        pytest.param(
            ours("illumina-miseq"),
            "Asia/Shanghai",
            "2026-01-05T18:47:02.318+08:00",
            "2026-01-06T09:12:44.123456+08:00",
            id="ours",
        ),
        pytest.param(
            vendor_miseq,
            "America/New_York",
            "2018-01-01T06:21:31.705-05:00",
            "2018-01-02T06:48:32.608024-04:00",
            id="vendor",
        ),
    ],
)
def test_illumina_miseq_rta1_marker_and_errored_analysis(
    lay_out: Layout, timezone: str, idle_at: str, fault_at: str, tmp_path: Path
) -> None:
    folder = lay_out(tmp_path)
    # RTA 1 writes "1/1/2018,06:21:31.705,..."; RTA 2 "completed on 1/4/2018 11:14:00 AM".
    ok = run_profile("illumina", folder / "ok", timezone=timezone)
    assert [(c.state.value, c.since) for c in ok] == [("idle", utc(idle_at))]
    bad = run_profile("illumina", folder / "bad", timezone=timezone)
    assert [(c.state.value, c.since) for c in bad] == [("fault", utc(fault_at))]


def vendor_topspin(tmp_path: Path) -> Path:
    src = vendor_samples("bruker-topspin-penguins")
    link(src / "nmrdata__1__audita.txt", tmp_path / "201115-7a" / "1" / "audita.txt")
    link(src / "nmrdata__2__audita.txt", tmp_path / "201115-7a" / "4" / "audita.txt")
    return tmp_path


TOPSPIN = [
    pytest.param(
        ours("bruker-topspin"),
        [
            (utc("2026-02-27T09:14:05.120+08:00"), utc("2026-02-27T09:40:51.007+08:00")),
            (utc("2026-02-27T10:02:30.500+08:00"), utc("2026-02-27T11:17:12.994+08:00")),
        ],
        id="ours",
    ),
    pytest.param(
        vendor_topspin,
        [
            (utc("2020-11-15T20:36:04.866+00:00"), utc("2020-11-15T20:37:27.267+00:00")),
            (utc("2020-11-15T20:48:34.667+00:00"), utc("2020-11-15T21:03:45.853+00:00")),
        ],
        id="vendor",
    ),
]


@pytest.mark.parametrize(("lay_out", "expected"), TOPSPIN)
def test_bruker_topspin_audita_two_experiments_with_idle_gap(
    lay_out: Layout, expected: list[Span], tmp_path: Path
) -> None:
    changes = run_profile("bruker-topspin", lay_out(tmp_path))
    assert intervals(changes) == expected


@pytest.mark.parametrize(("lay_out", "expected"), TOPSPIN)
def test_a_topspin_audit_entry_is_one_closed_run(
    lay_out: Layout, expected: list[Span], tmp_path: Path
) -> None:
    """The entry names both ends of the acquisition: each run is sent as a closed interval."""
    clock = FakeClock()
    driver = LogDriver.from_options(
        "bruker-topspin", {"profile": "bruker-topspin", "path": str(lay_out(tmp_path))}
    )
    driver._clock = clock
    events = [e for r in poll_until_quiet(driver, clock, NOW) for e in r.events]
    driver.close()
    assert sorted((e.ts, e.until) for e in events if e.state == "running") == expected
    assert sorted(e.ts for e in events if e.state == "idle") == [end for _, end in expected]


@pytest.mark.parametrize(("lay_out", "expected"), TOPSPIN)
def test_a_topspin_acquisition_is_a_session_of_the_user_its_audit_entry_names(
    lay_out: Layout, expected: list[Span], tmp_path: Path
) -> None:
    """Issue 13: the entry's WHO field (``<NMRLAB\\nmr-user>``) makes each acquisition a
    session of that account, from the acquisition's start to its end."""
    clock = FakeClock()
    driver = LogDriver.from_options(
        "bruker-topspin", {"profile": "bruker-topspin", "path": str(lay_out(tmp_path))}
    )
    driver._clock = clock
    sessions = [s for r in poll_until_quiet(driver, clock, NOW) for s in r.sessions]
    driver.close()
    starts = sorted((s.ts, s.session_id) for s in sessions if s.event == "start")
    ends = {s.session_id: s.ts for s in sessions if s.event == "end"}
    assert {s.user for s in sessions} == {"nmr-user"}
    assert [(ts, ends[sid]) for ts, sid in starts] == expected


def vendor_minknow(excerpt: str) -> Layout:
    def lay_out(tmp_path: Path) -> Path:
        src = vendor_samples("ont-minknow-log-excerpts-issues")
        link(src / excerpt, tmp_path / "MN00000" / "control_server_log-0.txt")
        return tmp_path

    return lay_out


ERROR_CHAIN = "stopping_protocol_due_to_internal_error, then device_error"


@pytest.mark.parametrize(
    ("lay_out", "timezone", "expected"),
    [
        pytest.param(
            ours("ont-minknow/error-chain"),
            "Asia/Shanghai",
            [("idle", "2026-02-27T14:05:41.100254+08:00"), ("fault", "2026-02-27T14:20:03.557811+08:00")],
            id=f"ours: {ERROR_CHAIN}",
        ),
        pytest.param(
            vendor_minknow("readfish_issue181_control_server_log-0.ERRORS.txt"),
            "Europe/London",
            [("idle", "2022-03-11T12:23:26.742031+00:00"), ("fault", "2022-03-11T12:47:38.790286+00:00")],
            id=f"vendor: {ERROR_CHAIN}",
        ),
        pytest.param(
            ours("ont-minknow/start-up"),
            "Asia/Shanghai",
            [("idle", "2026-02-27T08:55:02.731450+08:00"), ("running", "2026-02-27T08:58:41.600002+08:00")],
            id="ours: acquisition start after start-up",
        ),
        pytest.param(
            vendor_minknow("readfish_issue345_control_server_log-0.EXCERPTS.txt"),
            "America/Regina",
            [("idle", "2024-04-09T10:19:57.300601-06:00"), ("running", "2024-04-09T10:22:03.492513-06:00")],
            id="vendor: acquisition start after start-up",
        ),
    ],
)  # fmt: skip
def test_minknow_control_server_logs(
    lay_out: Layout, timezone: str, expected: list[tuple[str, str]], tmp_path: Path
) -> None:
    changes = run_profile("minknow", lay_out(tmp_path), timezone=timezone)
    assert [(c.state.value, c.since) for c in changes] == [
        (state, utc(since)) for state, since in expected
    ]
    if expected[-1][0] == "fault":
        assert "device_error" in changes[-1].reason


def vendor_mdoc(name: str) -> Layout:
    def lay_out(tmp_path: Path) -> Path:
        src = vendor_samples("cryoem-serialem-mdoc")
        link(src / f"tests__test_data__{name}.mdoc", tmp_path / name / f"{name}.mrc.mdoc")
        return tmp_path / name

    return lay_out


@pytest.mark.parametrize(
    ("lay_out", "timezone", "expected"),
    [
        one_run("ours: tilt series", ours("cryoem-serialem/tilt"), "Asia/Shanghai",
                "2026-02-27T10:03:11+08:00", "2026-02-27T10:08:26+08:00"),
        one_run("ours: montage", ours("cryoem-serialem/montage"), "Asia/Shanghai",
                "2026-02-27T13:21:09+08:00", "2026-02-27T13:22:04+08:00"),
        one_run("vendor: tilt series", vendor_mdoc("tilt_series"), "Europe/Berlin",
                "2015-11-30T15:21:38+01:00", "2015-11-30T16:06:45+01:00"),
        one_run("vendor: montage", vendor_mdoc("montage_section"), "Europe/Paris",
                "2021-03-25T17:00:46+01:00", "2021-03-25T17:11:56+01:00"),
    ],
)  # fmt: skip
def test_serialem_mdoc_tilt_series_and_montage(
    lay_out: Layout, timezone: str, expected: list[Span], tmp_path: Path
) -> None:
    assert intervals(run_profile("serialem", lay_out(tmp_path), timezone=timezone)) == expected


def vendor_epu(tmp_path: Path) -> Path:
    """The real session's folder rebuilt from the timeline of its file names (empty files: the
    profile reads only the names)."""
    src = vendor_samples("cryoem-epu-smartem")
    data = tmp_path / "bi37708-28" / "Images-Disc1" / "GridSquare_29272952" / "Data"
    data.mkdir(parents=True)
    timeline = src / "bi37708-28_acquisition_timeline.DERIVED.csv"
    with timeline.open(encoding="utf-8") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            stamp = datetime.fromisoformat(row["timestamp"]).strftime("%Y%m%d_%H%M%S")
            folder = data if row["kind"] == "Data" else data.parent / "FoilHoles"
            folder.mkdir(exist_ok=True)
            kind = "_Data_2927" if row["kind"] == "Data" else ""
            (folder / f"FoilHole_29279958{kind}{index}_13_{stamp}.xml").touch()
    return tmp_path


@pytest.mark.parametrize(
    ("lay_out", "timezone", "expected"),
    [
        pytest.param(
            ours("cryoem-epu"),
            "Asia/Shanghai",
            [
                (utc("2026-02-27T16:02:10+08:00"), utc("2026-02-27T16:09:55+08:00")),
                (utc("2026-02-28T08:31:02+08:00"), utc("2026-02-28T08:38:44+08:00")),
            ],
            id="ours: an overnight gap",
        ),
        pytest.param(
            vendor_epu,
            "Europe/London",
            [
                (utc("2025-01-29T15:49:27+00:00"), utc("2025-01-29T19:35:03+00:00")),
                (utc("2025-01-30T15:31:19+00:00"), utc("2025-01-30T16:35:25+00:00")),
            ],
            id="vendor: a 19-hour gap",
        ),
    ],
)
def test_epu_exposures_with_a_long_gap(
    lay_out: Layout, timezone: str, expected: list[Span], tmp_path: Path
) -> None:
    """Exposures are activity; hole-targeting images (FoilHoles/) are not."""
    assert intervals(run_profile("epu", lay_out(tmp_path), timezone=timezone)) == expected


def extracted_text_segments(path: Path) -> list[dict[str, str]]:
    """Keywords per file from a list of FCS TEXT segments (``### file`` then ``key<TAB>value``)."""
    files: list[dict[str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            files.append({})
        elif "\t" in line and files:
            key, _, value = line.partition("\t")
            files[-1][key] = value
    return files


def own_segments() -> Path:
    return own_fixture("flowcytometry-fcs/fcs_TEXT_segments.txt")


def vendor_segments() -> Path:
    return vendor_samples("flowcytometry-fcs-headers") / "fcs_TEXT_segments.EXTRACTED.txt"


@pytest.mark.parametrize(
    ("segments", "expected"),
    [
        pytest.param(
            own_segments,
            [
                (utc("2026-02-27T09:12:05"), utc("2026-02-27T09:13:40")),  # dd-MON-yyyy
                (utc("2026-02-27T09:20:00.5"), utc("2026-02-27T09:21:10.75")),  # FCS 2.0 1/60 s
                (utc("2026-02-27T09:30:12"), utc("2026-02-27T09:31:02")),  # yyyy-Mon-dd
                (utc("2026-02-27T09:40:05.509"), utc("2026-02-27T09:41:46.219")),  # :ms
                (utc("2026-02-27T23:58:30.25"), utc("2026-02-28T00:01:10.75")),  # past midnight
                (utc("2026-02-28T08:00:00"), utc("2026-02-28T08:00:00")),  # $BTIM = $ETIM
            ],
            id="ours: six exports",
        ),
        pytest.param(
            vendor_segments,
            [
                (utc("2012-10-26T18:08:10"), utc("2012-10-26T18:08:21")),  # LSR II
                (utc("2013-02-28T15:19:53"), utc("2013-02-28T15:20:03")),  # Fortessa
                (utc("2013-07-19T13:08:29"), utc("2013-07-19T13:09:13")),  # MACSQuant yyyy-Mon-dd
                (utc("2013-09-22T11:28:29"), utc("2013-09-22T11:28:34")),  # FACSCalibur dd-Mon-yy
                (utc("2014-07-18T09:44:26"), utc("2014-07-18T09:44:26")),  # FACSDiva
                (utc("2015-03-02T13:22:33"), utc("2015-03-02T13:22:52")),  # Cytek xP5
                (utc("2017-11-02T09:42:05.509"), utc("2017-11-02T09:43:46.219")),  # CyFlow
                (utc("2020-07-22T18:39:40.590"), utc("2020-07-22T18:41:43.490")),  # Aurora
            ],
            id="vendor: eight cytometers",
        ),
    ],
)
def test_fcs_btim_etim_of_each_export(
    segments: Callable[[], Path], expected: list[Span], tmp_path: Path
) -> None:
    files = extracted_text_segments(segments())
    assert len(files) == len(expected)
    for index, keywords in enumerate(files):
        (tmp_path / f"sample_{index}.fcs").write_bytes(fcs_bytes(keywords))
    assert sorted(intervals(run_profile("fcs", tmp_path, timezone="UTC"))) == expected


def own_fcs(tmp_path: Path) -> Path:
    shutil.copy(own_fixture("flowcytometry-fcs/export/2026-02-27/tube_03.fcs"), tmp_path)
    return tmp_path


def vendor_fcs(tmp_path: Path) -> Path:
    src = vendor_samples("flowcytometry-fcs-headers")
    link(src / "cytek-nl-2000_sample_header.fcs", tmp_path / "export" / "sample.fcs")
    return tmp_path


@pytest.mark.parametrize(
    ("lay_out", "expected"),
    [
        pytest.param(
            own_fcs,
            [(utc("2026-02-27T14:05:09.250+08:00"), utc("2026-02-27T14:07:31.500+08:00"))],
            id="ours",
        ),
        pytest.param(
            vendor_fcs,
            [(utc("2020-07-22T18:39:40.590+08:00"), utc("2020-07-22T18:41:43.490+08:00"))],
            id="vendor",
        ),
    ],
)
def test_fcs_whole_file(lay_out: Layout, expected: list[Span], tmp_path: Path) -> None:
    changes = run_profile("fcs", lay_out(tmp_path), timezone="Asia/Shanghai")
    assert intervals(changes) == expected


# The ChemStation-like status log of docs/drivers.md ("Adding a log profile without code").
HPLC_RULES = [
    {"pattern": r"^(?P<ts>\S+ \S+) .*\b(?:PRERUN|INJECTING|RUN)\b", "state": "running"},
    {"pattern": r"^(?P<ts>\S+ \S+) .*\b(?:POSTRUN|STANDBY|NOTREADY)\b", "state": "idle"},
    {"pattern": r"^(?P<ts>\S+ \S+) .*\b(?:ERROR|BREAK)\b", "state": "fault"},
]


def test_the_generic_profile_with_rules_of_our_own(tmp_path: Path) -> None:
    folder = ours("generic/hplc")(tmp_path)
    changes = run_profile(
        "generic", folder, files=["*.log"], rules=HPLC_RULES, timezone="Asia/Shanghai",
        time_format="%Y-%m-%d %H:%M:%S",
    )  # fmt: skip
    assert [(c.state.value, c.since) for c in changes] == [
        ("idle", utc("2026-02-27T08:30:00+08:00")),
        ("running", utc("2026-02-27T09:00:05+08:00")),
        ("idle", utc("2026-02-27T09:25:41+08:00")),
        ("fault", utc("2026-02-27T10:02:13+08:00")),
        ("idle", utc("2026-02-27T10:15:00+08:00")),
    ]


def test_every_shipped_log_profile_has_our_own_files() -> None:
    """A clone without ../shared still tests every profile: each has files of ours above."""
    assert set(OWN_FILES) == set(load_profile_tables("logs.toml", None, "t"))
    listed = {folder for folders in OWN_FILES.values() for folder in folders}
    not_logs = {"modbus", "utmp"}  # fixtures of other drivers
    assert listed == {p.name for p in FIXTURES.iterdir() if p.is_dir()} - not_logs
    for folder in listed:
        assert any(p.is_file() for p in own_fixture(folder).rglob("*")), folder


def test_an_fcs_file_found_after_a_newer_one_still_reports_its_run(tmp_path: Path) -> None:
    """A run folder discovered late (copied from the cytometer PC the next morning): its
    acquisition is older than the state already applied, so it cannot change the present, but
    it is reported as a closed interval that counts in full (DESIGN.md)."""
    newer = {"$DATE": "27-FEB-2026", "$BTIM": "10:00:00", "$ETIM": "10:20:00"}
    older = {"$DATE": "27-FEB-2026", "$BTIM": "08:00:00", "$ETIM": "09:30:00"}
    clock = FakeClock()
    driver = LogDriver.from_options(
        "fcs", {"profile": "fcs", "path": str(tmp_path), "timezone": "UTC"}
    )
    driver._clock = clock
    (tmp_path / "b.fcs").write_bytes(fcs_bytes(newer))
    first = poll_until_quiet(driver, clock, NOW)
    (tmp_path / "a.fcs").write_bytes(fcs_bytes(older))
    later = poll_until_quiet(driver, clock, NOW + timedelta(hours=1))
    inferrer_changes = transitions([*first, *later])
    records = [(t.state.value, t.since, t.until) for t in inferrer_changes if t.until is not None]
    assert records == [
        ("running", utc("2026-02-27T08:00:00+00:00"), utc("2026-02-27T09:30:00+00:00"))
    ]
    # The events themselves say they are records of the source, closed by the file's $ETIM.
    events = [e for r in later for e in r.events]
    assert [(e.state, e.until is not None, e.record, e.source) for e in events] == [
        ("running", True, True, "fcs"),
        ("idle", False, True, "fcs"),
    ]
