"""Columns the report tables share: one Chinese header per figure, written once for every report.

The platform and the evaluation office read the same figure under the same header in every
table; a header changed here changes in all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from jishi.collector.reports.output import Column

INSTRUMENT = Column("仪器编号", "instrument")
NAME = Column("仪器名称", "name")
UNIT = Column("管理单位", "unit")
INNER_ID = Column("平台内部编号", "inner_id")
QUOTA_H = Column("定额机时", "quota_h", "hours")
EFFECTIVE_H = Column("有效工作机时", "effective_h", "hours")
UTILIZATION = Column("使用率", "utilization", "ratio")
COMPLETENESS = Column("数据完整率", "completeness", "ratio")
ADJUSTMENTS = Column("调整编号", "adjustments")
INSTRUMENT_COUNT = Column("仪器台数", "instruments", "int")


def raw_twin(column: Column) -> Column:
    """The column of the same figure before adjustments (header "(原始)", key ``raw_...``)."""
    return Column(f"{column.header}(原始)", f"raw_{column.key}", column.kind)


RAW_EFFECTIVE_H = raw_twin(EFFECTIVE_H)

NO_UNIT = "(未指定)"  # shown for instruments registered without a management unit


def adjustment_ids(ids: Sequence[int]) -> str | None:
    """The ids of the adjustments behind a row, as one cell (empty when there are none)."""
    return ",".join(str(a) for a in ids) or None
