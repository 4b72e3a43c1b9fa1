"""Node: whether a new model replaces its turbine's active one. Pure: the service measures, this decides."""

from __future__ import annotations


def promotion_verdict(
    mae: float, curve_mae: float, active: tuple[int, float] | None, tolerance: float
) -> tuple[bool, str | None]:
    """Promote, and if not, why.

    A model must beat its own binned power curve on its holdout (curve_mae); and when its turbine
    has an active model (its id and its MAE on the same holdout rows), it must be no worse than that
    by more than `tolerance` (training_pipeline.promote_tolerance).
    """
    if not mae < curve_mae:
        return False, f"holdout MAE {mae:.1f} kW does not beat its binned power curve's {curve_mae:.1f} kW"
    if active is None:
        return True, None
    active_id, theirs = active
    if mae > theirs * (1 + tolerance):
        return False, (
            f"holdout MAE {mae:.1f} kW is worse than active model {active_id}'s {theirs:.1f} kW on the same "
            f"rows by more than training_pipeline.promote_tolerance ({tolerance:.0%})"
        )
    return True, None
