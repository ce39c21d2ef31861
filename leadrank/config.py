"""The settings, resolved into the small typed configurations the library packages take.

Library packages never read `Settings` (tests/test_layering.py checks that they do not import `leadrank`);
the commands build what they need here and pass it in.
"""

from __future__ import annotations

from leadrank.settings import Settings
from training.registry import GatePolicy
from training.tracking import TrackingConfig


def tracking_config(settings: Settings) -> TrackingConfig:
    """The MLflow store and names of `settings` (the tracking URI resolved now, against this environment)."""
    return TrackingConfig(
        tracking_uri=settings.resolved_tracking_uri(),
        home=settings.home,
        experiment=settings.experiment,
        model_name=settings.model_name,
    )


def gate_policy(settings: Settings) -> GatePolicy:
    """The promotion gate's thresholds of `settings`."""
    return GatePolicy(
        min_closed_leads=settings.min_closed_leads,
        min_wins=settings.min_wins,
        max_auc_drop=settings.max_auc_drop,
        max_ece=settings.max_ece,
        max_closes_at_capacity_drop=settings.max_closes_at_capacity_drop,
    )
