"""Every log profile on our own files in its vendor's format: the profiles stay tested in a
checkout without ../shared/samples (FCS and TopSpin have theirs in test_log_profiles.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from jishi.drivers.logs import LogDriver
from jishi.drivers.options import load_profile_tables

from support.driver_runs import FakeClock, poll_until_quiet, transitions, utc

NOW = datetime(2026, 3, 1, tzinfo=UTC)
RUN = "260227_M00000_0001_000000000-ABCDE"
EPU_DATA = "session/Images-Disc1/GridSquare_1/Data"

# profile -> (files relative to the source path, the states with their times, in UTC)
CASES: dict[str, tuple[dict[str, str], list[tuple[str, str]]]] = {
    "minknow": (
        {
            "MN00000/control_server_log-0.txt": (
                "2026-02-27 09:00:00.000000    INFO: starting_up (control)\n"
                "    hostname: sequencer-pc\n"
                "2026-02-27 09:05:00.500000    INFO: data_acquisition_starting (acquisition)\n"
                "2026-02-27 11:00:00.000000    INFO: data_acquisition_finished (acquisition)\n"
                "2026-02-27 11:30:00.000000    ERROR: device_error (control)\n"
                "2026-02-27 11:31:00.000000    INFO: flush (control)\n"
            )
        },
        [
            ("idle", "2026-02-27T09:00:00"),
            ("running", "2026-02-27T09:05:00.5"),
            ("idle", "2026-02-27T11:00:00"),
            ("fault", "2026-02-27T11:30:00"),
        ],
    ),
    "serialem": (
        {
            "TS_01.mrc.mdoc": (
                "PixelSpacing = 1.35\n\n[ZValue = 0]\nTiltAngle = 0\n"
                "DateTime = 27-Feb-26  09:00:00\n\n[ZValue = 1]\nTiltAngle = 3\n"
                "DateTime = 27-Feb-26  09:04:00\n\n[ZValue = 2]\nTiltAngle = -3\n"
                "DateTime = 27-Feb-2026  09:08:00\n"
            )
        },
        [("running", "2026-02-27T09:00:00"), ("idle", "2026-02-27T09:08:00")],
    ),
    "epu": (
        {
            f"{EPU_DATA}/FoilHole_7_Data_8_1_20260227_090000.xml": "",
            f"{EPU_DATA}/FoilHole_7_Data_8_2_20260227_090500.xml": "",
            f"{EPU_DATA}/FoilHole_9_Data_8_1_20260227_093000.xml": "",
            "session/Images-Disc1/GridSquare_1/FoilHoles/FoilHole_7_20260227_080000.xml": "",
        },
        [
            ("running", "2026-02-27T09:00:00"),
            ("idle", "2026-02-27T09:05:00"),
            ("running", "2026-02-27T09:30:00"),
            ("idle", "2026-02-27T09:30:00"),
        ],
    ),
    "illumina": (
        {
            f"{RUN}/RTALogs/20260227-0900_GlobalLog_00.tsv": (
                "2/27/2026 9:00:00 AM\tRTA 2.8.6 started\n2/27/2026 9:10:00 AM\tcycle 1\n"
            ),
            f"{RUN}/RTAComplete.txt": "RTA 2.8.6 completed on 2/27/2026 11:14:00 AM\n",
        },
        [("running", "2026-02-27T09:00:00"), ("idle", "2026-02-27T11:14:00")],
    ),
}


@pytest.mark.parametrize("profile", sorted(CASES))
def test_every_log_profile_on_our_own_files(profile: str, tmp_path: Path) -> None:
    files, expected = CASES[profile]
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    clock = FakeClock()
    options = {"profile": profile, "path": str(tmp_path), "timezone": "UTC"}
    driver = LogDriver.from_options(profile, options)
    driver._clock = clock
    readings = poll_until_quiet(driver, clock, NOW)
    driver.close()
    assert all(r.ok for r in readings), [r.error for r in readings]
    assert [(t.state.value, t.since) for t in transitions(readings)] == [
        (state, utc(moment)) for state, moment in expected
    ]


def test_the_table_covers_every_shipped_log_profile_but_fcs_and_topspin() -> None:
    shipped = set(load_profile_tables("logs.toml", None, "t"))
    assert shipped - {"fcs", "bruker-topspin", "generic"} == set(CASES)
