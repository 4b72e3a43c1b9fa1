"""Feed health for cron and Nagios: per turbine, how fresh its data and predictions are, and one
overall state with the Nagios plugin exit codes (dbt's source freshness: warn_after / error_after).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

from datamgr.monitoring.windows import format_duration


class State(IntEnum):
    """The Nagios plugin convention: the exit code is the state."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass(frozen=True)
class TurbineFacts:
    """What the store says about one turbine, as of a moment (read by the service, judged here)."""

    turbine_id: str
    newest_row: datetime | None
    slots_present_24h: int
    quarantined_24h: int
    newest_prediction: datetime | None
    waiting_for_actuals: int
    active_model: int | None
    model_created_at: datetime | None
    last_mae: float | None


SLOTS_PER_DAY = 144  # 10-minute rows


@dataclass(frozen=True)
class StatusRow:
    """One turbine's line of `status`: its lags, missing slots, and its state (a Nagios state's name)."""

    turbine_id: str
    state: str
    newest_row: datetime | None
    lag: str
    lag_s: int | None
    missing_slots_24h: int
    quarantined_24h: int
    newest_prediction: datetime | None
    prediction_lag: str | None
    waiting_for_actuals: int
    active_model: int | None
    model_age: str | None
    last_mae: float | None

    def shown(self) -> dict[str, Any]:
        """The row as printed: every field but lag_s, the seconds behind `lag` (for perfdata)."""
        return {name: value for name, value in asdict(self).items() if name != "lag_s"}


def judge(facts: TurbineFacts, as_of: datetime, warn_after: timedelta, error_after: timedelta) -> StatusRow:
    """Node: one turbine's status row: lags, missing slots, and its state."""
    lag = None if facts.newest_row is None else as_of - facts.newest_row
    if lag is None or lag > error_after:
        state = State.CRITICAL
    elif lag > warn_after:
        state = State.WARNING
    else:
        state = State.OK
    prediction_lag = None if facts.newest_prediction is None else as_of - facts.newest_prediction
    return StatusRow(
        turbine_id=facts.turbine_id,
        state=state.name,
        newest_row=facts.newest_row,
        lag="never reported" if lag is None else format_duration(lag),
        lag_s=None if lag is None else int(lag.total_seconds()),
        missing_slots_24h=SLOTS_PER_DAY - facts.slots_present_24h,
        quarantined_24h=facts.quarantined_24h,
        newest_prediction=facts.newest_prediction,
        prediction_lag=None if prediction_lag is None else format_duration(prediction_lag),
        waiting_for_actuals=facts.waiting_for_actuals,
        active_model=facts.active_model,
        # (a replay --as-of before the model existed shows age 0)
        model_age=None
        if facts.model_created_at is None
        else format_duration(max(as_of - facts.model_created_at, timedelta(0))),
        last_mae=facts.last_mae,
    )


def overall(rows: list[StatusRow]) -> State:
    """The worst state of any turbine; no turbine at all is CRITICAL (nothing ever reported)."""
    if not rows:
        return State.CRITICAL
    return max(State[row.state] for row in rows)


def nagios_line(rows: list[StatusRow], state: State, warn_after: timedelta, error_after: timedelta) -> str:
    """One status line with perfdata, as a Nagios plugin prints it: `DATAMGR WARNING - … | T01_lag=…s;…;…`."""
    if not rows:
        summary = "no turbine has reported"
    else:
        late = [r for r in rows if r.state != State.OK.name]
        summary = (
            f"{len(rows)} turbine(s) fresh"
            if not late
            else ", ".join(f"{r.turbine_id} {r.state} (lag {r.lag})" for r in late[:5])
            + (f" and {len(late) - 5} more" if len(late) > 5 else "")
        )
    warn, error = int(warn_after.total_seconds()), int(error_after.total_seconds())
    perf = " ".join(
        f"{r.turbine_id}_lag={'' if r.lag_s is None else r.lag_s}s;{warn};{error};0 "
        f"{r.turbine_id}_missing={r.missing_slots_24h};;;0;{SLOTS_PER_DAY}"
        for r in rows
    )
    return f"DATAMGR {state.name} - {summary}" + (f" | {perf}" if perf else "")
