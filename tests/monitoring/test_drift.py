"""PSI, ECE, the AUC's standard error and the reference binning against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.reference import (
    Distribution,
    Reference,
    ReferenceFormatError,
    binned,
    categorical_distribution,
    numeric_distribution,
)
from monitoring.drift import auc_standard_error, psi
from training.evaluate import expected_calibration_error


def test_psi_by_hand() -> None:
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5) = 0.25 ln 2 + 0.25 ln 1.5
    assert psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(0.2746530722, abs=1e-9)
    assert psi(np.array([0.2, 0.3, 0.5]), np.array([0.2, 0.3, 0.5])) == 0.0
    # An empty bin is floored at 1e-4: (0.5 - 1) ln(0.5) + (0.5 - 1e-4) ln(0.5 / 1e-4)
    assert psi(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(0.3465735903 + 0.4999 * 8.5171931914)


def test_ece_by_hand() -> None:
    # Bin 0.1-0.2: two leads at 0.1, one won: |0.2 - 1| = 0.8; bin 0.9-1.0: two at 0.9, both won: |1.8 - 2| = 0.2.
    y = np.array([0, 1, 1, 1])
    p = np.array([0.1, 0.1, 0.9, 0.9])
    assert expected_calibration_error(y, p) == pytest.approx(0.25)
    assert expected_calibration_error(np.array([0, 1]), np.array([0.0, 1.0])) == 0.0


def test_auc_standard_error_hanley_mcneil() -> None:
    # AUC 0.8, 50 + 50: q1 = 0.8/1.2, q2 = 1.28/1.8; var = (0.16 + 49 (q1 - 0.64) + 49 (q2 - 0.64)) / 2500
    q1, q2 = 0.8 / 1.2, 1.28 / 1.8
    expected = math.sqrt((0.16 + 49 * (q1 - 0.64) + 49 * (q2 - 0.64)) / 2500)
    assert auc_standard_error(0.8, 50, 50) == pytest.approx(expected)
    assert expected == pytest.approx(0.0445, abs=1e-4)
    assert math.isnan(auc_standard_error(0.8, 0, 50))


def test_numeric_bins_put_missing_last() -> None:
    dist = Distribution("numeric", np.zeros(4), edges=np.array([1.0, 2.0]))
    shares = binned(dist, np.array([0.5, 1.0, 1.5, 2.0, 3.0, np.nan]))
    assert shares.tolist() == pytest.approx([1 / 6, 2 / 6, 2 / 6, 1 / 6])


def test_categorical_bins_count_missing_and_unseen_together() -> None:
    dist = categorical_distribution(np.array([0, 0, 1, -1]), ("a", "b"))
    assert dist.shares.tolist() == [0.5, 0.25, 0.25]
    assert binned(dist, np.array([1, 1, -1, 0])).tolist() == [0.25, 0.5, 0.25]


def test_deciles_of_a_mostly_zero_count_collapse_to_few_bins() -> None:
    values = np.array([0.0] * 90 + list(range(1, 11)), dtype=float)
    dist = numeric_distribution(values)
    assert dist.edges is not None and len(dist.edges) <= 2
    assert dist.shares.sum() == pytest.approx(1.0) and dist.missing == 0.0


def test_reference_round_trip_and_errors_name_the_key() -> None:
    ref = Reference(
        n_leads=10,
        features={
            "x": numeric_distribution(np.arange(10.0)),
            "c": categorical_distribution(np.array([0, 1]), ("a", "b")),
        },
        score=numeric_distribution(np.linspace(0, 1, 10)),
        source_mix=None,
        positive_rate=0.2,
        period={"from": "2026-01-01"},
    )
    back = Reference.from_dict(ref.to_dict())
    assert back.to_dict() == ref.to_dict()
    broken = ref.to_dict()
    broken["features"]["x"]["edges"] = [3.0, 1.0]
    with pytest.raises(ReferenceFormatError, match=r"reference\.features\.x"):
        Reference.from_dict(broken)
    broken = ref.to_dict()
    broken["score"]["kind"] = "weird"
    with pytest.raises(ReferenceFormatError, match=r"reference\.score\.kind"):
        Reference.from_dict(broken)
