"""The settings, resolved into the small typed configurations the library packages take.

Library packages never read `Settings` (tests/test_layering.py checks that they do not import `leadrank`);
the commands build what they need here and pass it in.
"""

from __future__ import annotations

from leadrank.settings import Settings
from training.tracking import TrackingConfig


def tracking_config(settings: Settings) -> TrackingConfig:
    """The MLflow store and names of `settings` (the tracking URI resolved now, against this environment)."""
    return TrackingConfig(
        tracking_uri=settings.resolved_tracking_uri(),
        home=settings.home,
        experiment=settings.experiment,
        model_name=settings.model_name,
    )
