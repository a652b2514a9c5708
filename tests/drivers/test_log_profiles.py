"""Every log profile against the real vendor files: the running intervals they imply.

Run folders are laid out in tmp_path as the instrument writes them, with symlinks to the sample
files (never copies); FCS and EPU folders are rebuilt from the extracted real headers/timeline.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jishi.drivers.logs import LogDriver

from support.driver_runs import FakeClock, intervals, poll_until_quiet, transitions, utc
from support.vendor_files import fcs_bytes, topspin_audita

NOW = datetime(2026, 3, 1, tzinfo=UTC)


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


def test_illumina_nextseq_run_from_rta_log_to_rtacomplete(
    samples_dir: Path, tmp_path: Path
) -> None:
    src = samples_dir / "illumina-nextseq-runscanner"
    run = tmp_path / "runs" / "170609_NB551051_0017_AHLFFJBGX2"
    prefix = "illumina__170609_NB551051_0017_AHLFFJBGX2__"
    for name in ("RTAComplete.txt", "RTARead1Complete.txt", "RTARead2Complete.txt",
                 "RTARead3Complete.txt", "RunCompletionStatus.xml"):  # fmt: skip
        link(src / f"{prefix}{name}", run / name)
    link(src / "RTALogs__20170609-2057_FileCopyLog_00.HEAD150.tsv",
         run / "RTALogs" / "20170609-2057_FileCopyLog_00.tsv")  # fmt: skip
    link(src / "RTALogs__20170609-2057_GlobalLog_06.TAIL400.tsv",
         run / "RTALogs" / "20170609-2057_GlobalLog_06.tsv")  # fmt: skip
    changes = run_profile("illumina", tmp_path / "runs", timezone="America/Toronto")
    assert intervals(changes) == [
        (utc("2017-06-09T20:57:08-04:00"), utc("2017-06-10T14:09:31-04:00"))
    ]
    assert [c.state.value for c in changes] == ["running", "idle"]  # CompletedAsPlanned: no fault


def test_illumina_novaseqx_run_includes_post_run_wash(samples_dir: Path, tmp_path: Path) -> None:
    src = samples_dir / "illumina-novaseqx-runscanner"
    for run_id in ("20230418_LH00130_0003_B223YTFLT3", "20240531_LH00130_0061_A22CC55LT4"):
        link(src / f"illumina__{run_id}__RunCompletionStatus.xml",
             tmp_path / run_id / "RunCompletionStatus.xml")  # fmt: skip
    changes = run_profile("illumina", tmp_path, timezone="America/Toronto")
    wash = timedelta(hours=1, minutes=48, seconds=29.155765)
    post_protocol = timedelta(minutes=2, seconds=57.89229)
    assert intervals(changes) == [
        (utc("2023-04-18T15:26:54.860751-04:00"), utc("2023-04-19T14:43:18.710500-04:00")),
        (
            utc("2024-05-31T17:52:16.925339-04:00"),
            utc("2024-06-02T11:51:29.339373-04:00") + wash + post_protocol,
        ),
    ]


def test_illumina_miseq_rta1_marker_and_errored_analysis(samples_dir: Path, tmp_path: Path) -> None:
    src = samples_dir / "illumina-miseq-miniseq-umbra"
    good = "180101_M00000_0000_000000000-XXXXX"
    link(src / f"runs__miseq__{good}__RTAComplete.txt", tmp_path / "ok" / good / "RTAComplete.txt")
    link(src / f"runs__miseq-errored__{good}__CompletedJobInfo.xml",
         tmp_path / "bad" / good / "CompletedJobInfo.xml")  # fmt: skip
    link(src / "runs__miniseq__180103_M000000_0000_0000000000__RTAComplete.txt",
         tmp_path / "ok" / "180103_M000000_0000_0000000000" / "RTAComplete.txt")  # fmt: skip
    ok = run_profile("illumina", tmp_path / "ok", timezone="America/New_York")
    # RTA 1 writes "1/1/2018,06:21:31.705,..."; RTA 2 "completed on 1/4/2018 11:14:00 AM".
    assert [(c.state.value, c.since) for c in ok] == [
        ("idle", utc("2018-01-01T06:21:31.705-05:00"))
    ]
    bad = run_profile("illumina", tmp_path / "bad", timezone="America/New_York")
    assert [(c.state.value, c.since) for c in bad] == [
        ("fault", utc("2018-01-02T06:48:32.608024-04:00"))
    ]


def test_bruker_topspin_audita_two_experiments_with_idle_gap(
    samples_dir: Path, tmp_path: Path
) -> None:
    src = samples_dir / "bruker-topspin-penguins"
    link(src / "nmrdata__1__audita.txt", tmp_path / "201115-7a" / "1" / "audita.txt")
    link(src / "nmrdata__2__audita.txt", tmp_path / "201115-7a" / "4" / "audita.txt")
    changes = run_profile("bruker-topspin", tmp_path)
    assert intervals(changes) == [
        (utc("2020-11-15T20:36:04.866+00:00"), utc("2020-11-15T20:37:27.267+00:00")),
        (utc("2020-11-15T20:48:34.667+00:00"), utc("2020-11-15T21:03:45.853+00:00")),
    ]


@pytest.mark.parametrize(
    ("excerpt", "timezone", "expected"),
    [
        pytest.param(
            "readfish_issue181_control_server_log-0.ERRORS.txt",
            "Europe/London",
            [
                (
                    "idle",
                    "2022-03-11T12:23:26.742031+00:00",
                ),  # stopping_protocol_due_to_internal_error
                ("fault", "2022-03-11T12:47:38.790286+00:00"),  # device_error
            ],
            id="error chain ends in fault",
        ),
        pytest.param(
            "readfish_issue345_control_server_log-0.EXCERPTS.txt",
            "America/Regina",
            [
                ("idle", "2024-04-09T10:19:57.300601-06:00"),
                ("running", "2024-04-09T10:22:03.492513-06:00"),
            ],
            id="acquisition start after start-up",
        ),
    ],
)
def test_minknow_control_server_logs(
    samples_dir: Path, tmp_path: Path, excerpt: str, timezone: str, expected: list[tuple[str, str]]
) -> None:
    src = samples_dir / "ont-minknow-log-excerpts-issues"
    link(src / excerpt, tmp_path / "MN00000" / "control_server_log-0.txt")
    changes = run_profile("minknow", tmp_path, timezone=timezone)
    assert [(c.state.value, c.since) for c in changes] == [
        (state, utc(since)) for state, since in expected
    ]
    if expected[-1][0] == "fault":
        assert "device_error" in changes[-1].reason


def test_serialem_mdoc_tilt_series_and_montage(samples_dir: Path, tmp_path: Path) -> None:
    src = samples_dir / "cryoem-serialem-mdoc"
    link(src / "tests__test_data__tilt_series.mdoc", tmp_path / "embl" / "TS_01.mrc.mdoc")
    link(src / "tests__test_data__montage_section.mdoc", tmp_path / "pasteur" / "LMM.mrc.mdoc")
    tilt = run_profile("serialem", tmp_path / "embl", timezone="Europe/Berlin")
    assert intervals(tilt) == [(utc("2015-11-30T15:21:38+01:00"), utc("2015-11-30T16:06:45+01:00"))]
    montage = run_profile("serialem", tmp_path / "pasteur", timezone="Europe/Paris")
    assert intervals(montage) == [
        (utc("2021-03-25T17:00:46+01:00"), utc("2021-03-25T17:11:56+01:00"))
    ]


def test_epu_exposures_with_a_19_hour_gap(samples_dir: Path, tmp_path: Path) -> None:
    timeline = samples_dir / "cryoem-epu-smartem" / "bi37708-28_acquisition_timeline.DERIVED.csv"
    data = tmp_path / "bi37708-28" / "Images-Disc1" / "GridSquare_29272952" / "Data"
    data.mkdir(parents=True)
    with timeline.open(encoding="utf-8") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            stamp = datetime.fromisoformat(row["timestamp"]).strftime("%Y%m%d_%H%M%S")
            folder = data if row["kind"] == "Data" else data.parent / "FoilHoles"
            folder.mkdir(exist_ok=True)
            kind = "_Data_2927" if row["kind"] == "Data" else ""
            (folder / f"FoilHole_29279958{kind}{index}_13_{stamp}.xml").touch()
    changes = run_profile("epu", tmp_path, timezone="Europe/London")
    assert intervals(changes) == [
        (utc("2025-01-29T15:49:27+00:00"), utc("2025-01-29T19:35:03+00:00")),
        (utc("2025-01-30T15:31:19+00:00"), utc("2025-01-30T16:35:25+00:00")),
    ]


def test_fcs_btim_etim_from_eight_real_cytometers(samples_dir: Path, tmp_path: Path) -> None:
    extracted = samples_dir / "flowcytometry-fcs-headers" / "fcs_TEXT_segments.EXTRACTED.txt"
    files: list[dict[str, str]] = []
    for line in extracted.read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            files.append({})
        elif "\t" in line and files:
            key, _, value = line.partition("\t")
            files[-1][key] = value
    assert len(files) == 8
    for index, keywords in enumerate(files):
        (tmp_path / f"sample_{index}.fcs").write_bytes(fcs_bytes(keywords))
    changes = run_profile("fcs", tmp_path, timezone="UTC")
    spans = intervals(changes)
    assert spans[0] == (utc("2012-10-26T18:08:10"), utc("2012-10-26T18:08:21"))  # LSR II
    assert (
        utc("2013-09-22T11:28:29"),
        utc("2013-09-22T11:28:34"),
    ) in spans  # FACSCalibur 22-Sep-13
    assert (utc("2015-03-02T13:22:33"), utc("2015-03-02T13:22:52")) in spans  # Cytek xP5
    assert (
        utc("2013-07-19T13:08:29"),
        utc("2013-07-19T13:09:13"),
    ) in spans  # MACSQuant yyyy-Mon-dd
    assert (utc("2017-11-02T09:42:05.509"), utc("2017-11-02T09:43:46.219")) in spans  # CyFlow
    assert (utc("2020-07-22T18:39:40.590"), utc("2020-07-22T18:41:43.490")) in spans  # Aurora
    assert len(spans) == 8


def test_fcs_real_file_whole(samples_dir: Path, tmp_path: Path) -> None:
    link(samples_dir / "flowcytometry-fcs-headers" / "cytek-nl-2000_sample_header.fcs",
         tmp_path / "export" / "sample.fcs")  # fmt: skip
    changes = run_profile("fcs", tmp_path, timezone="Asia/Shanghai")
    assert intervals(changes) == [
        (utc("2020-07-22T18:39:40.590+08:00"), utc("2020-07-22T18:41:43.490+08:00"))
    ]


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


def test_a_topspin_audit_entry_is_one_closed_run(samples_dir: Path, tmp_path: Path) -> None:
    src = samples_dir / "bruker-topspin-penguins"
    link(src / "nmrdata__1__audita.txt", tmp_path / "201115-7a" / "1" / "audita.txt")
    clock = FakeClock()
    driver = LogDriver.from_options(
        "bruker-topspin", {"profile": "bruker-topspin", "path": str(tmp_path)}
    )
    driver._clock = clock
    events = [e for r in poll_until_quiet(driver, clock, NOW) for e in r.events]
    runs = [(e.ts, e.until) for e in events if e.state == "running"]
    assert runs == [(utc("2020-11-15T20:36:04.866+00:00"), utc("2020-11-15T20:37:27.267+00:00"))]


def test_our_own_topspin_entry_is_one_closed_run(tmp_path: Path) -> None:
    """Our fixture in TopSpin's format keeps the profile tested without ../shared."""
    started, finished = utc("2026-02-27T09:00:00.250+00:00"), utc("2026-02-27T11:00:01.000+00:00")
    folder = tmp_path / "260227-sample" / "3"
    folder.mkdir(parents=True)
    (folder / "audita.txt").write_text(topspin_audita(started, finished), encoding="utf-8")
    clock = FakeClock()
    driver = LogDriver.from_options(
        "bruker-topspin", {"profile": "bruker-topspin", "path": str(tmp_path)}
    )
    driver._clock = clock
    events = [e for r in poll_until_quiet(driver, clock, NOW) for e in r.events]
    assert [(e.state, e.ts, e.until) for e in events] == [
        ("running", started, finished),
        ("idle", finished, None),
    ]
