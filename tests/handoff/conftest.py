from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def random_scored(n: int, seed: int = 0, *, countries: tuple[str, ...] = ("DE", "FR", "US")) -> pd.DataFrame:
    """A scored-leads frame shaped like the model's output: skewed p_close, lognormal hours."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "lead_id": pd.array([f"L{i:05d}" for i in range(n)], dtype="str"),
            "p_close": rng.beta(1.2, 6.0, n),
            "expected_hours": rng.lognormal(1.3, 0.7, n),
            "expected_days_to_close": rng.uniform(5, 90, n),
            "deal_value": rng.lognormal(9, 1, n),
            "country": pd.array(rng.choice(list(countries), n), dtype="str"),
        }
    )


@pytest.fixture
def tiny() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d", "e", "f"],
            "p_close": [0.9, 0.5, 0.3, 0.0, 0.2, 0.6],
            "expected_hours": [10.0, 2.0, 1.0, 1.0, 0.0, 8.0],
            "expected_days_to_close": [10.0, 20.0, 60.0, 5.0, 30.0, 40.0],
            "deal_value": [1000.0, 5000.0, 100.0, 10.0, 50.0, 2000.0],
            "country": ["DE", "FR", "DE", "US", "AT", "FR"],
        }
    )
