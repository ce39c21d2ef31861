"""The MLflow pyfunc face of the lead model: request records in, probabilities out.

Logged as MLflow "models from code" (`model/mlflow_model.py` is the code file MLflow stores and runs to build this
object), with the stored `LeadModel` folder as the artifact `lead_model`: the registered model holds source code,
JSON and LightGBM model text, no pickle.

Input is one DataFrame, one row a lead, in the request shape (`features.records`): `lead_id`, `source`,
`created_at`, optional `as_of` (default: now) or `decided_at`, attribute columns, and `events`, a list of
`{"type", "ts", "asset"}` records per lead. Output: `lead_id`, `p_close`, `expected_hours`,
`expected_days_to_close`. Probabilities, never labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import pandas as pd
from mlflow.pyfunc import PythonModel

from features.records import from_records
from model.lead_model import LeadModel
from model.store import load_model

MODEL_ARTIFACT: Final = "lead_model"
CODE_FILE: Final = Path(__file__).with_name("mlflow_model.py")


class LeadModelPyfunc(PythonModel):
    """Loads the stored `LeadModel` (artifact `lead_model`) and scores request-shaped rows with its `predict`."""

    model: LeadModel

    def load_context(self, context: Any) -> None:
        self.model = load_model(Path(context.artifacts[MODEL_ARTIFACT]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.model.predict_frame(from_records(model_input))


def load_logged_model(model_uri: str) -> LeadModel:
    """The `LeadModel` of a logged or registered MLflow model (`models:/name/3`, `runs:/...`); a model of another
    kind, or one registered before leadrank stored models as explicit artifacts, raises `ModelFormatError`."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from model.store import RETRAIN_HINT, ModelFormatError

    try:
        python_model = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    except MlflowException:
        raise
    except Exception as exc:  # an old pickled model fails in whatever way its pickle does
        raise ModelFormatError(
            f"{model_uri} cannot be loaded by this leadrank ({type(exc).__name__}: {exc}); {RETRAIN_HINT}"
        ) from None
    if not isinstance(python_model, LeadModelPyfunc):
        raise ModelFormatError(
            f"{model_uri} holds a {type(python_model).__name__}, not a leadrank model; {RETRAIN_HINT}"
        )
    return python_model.model
