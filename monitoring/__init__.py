"""Monitoring: does the champion still hold? Drift of its inputs and score against the training reference stored
with the model (`model.reference`), and realised against predicted once outcomes are known (`monitoring.checks`);
the self-contained page (`monitoring.page`) and the MLflow run (`monitoring.tracking`).

Imports `model`, `features`, `training` (its evaluation metrics and capacity selection) and `marketing` (its page
helpers); never `leadrank` (tests/test_layering.py).
"""

from monitoring.checks import (
    ACT,
    NOT_JUDGED,
    OK,
    WATCH,
    Check,
    MonitoringError,
    MonitorReport,
    Window,
    judge,
    parse_time,
    window_from_data,
    window_from_log,
)
from monitoring.drift import PSI_ACT, PSI_WATCH, auc_standard_error, psi

__all__ = [
    "ACT",
    "NOT_JUDGED",
    "OK",
    "PSI_ACT",
    "PSI_WATCH",
    "WATCH",
    "Check",
    "MonitorReport",
    "MonitoringError",
    "Window",
    "auc_standard_error",
    "judge",
    "parse_time",
    "psi",
    "window_from_data",
    "window_from_log",
]
