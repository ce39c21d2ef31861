"""The fitted lead model: one object (`LeadModel`) with one prediction path (`LeadModel.predict`), stored as
explicit artifacts (`model.store`), and its MLflow pyfunc face (`model.pyfunc`)."""

from model.calibration import Calibrator
from model.lead_model import FeatureValues, LeadModel, ModelInput, Prediction
from model.store import ModelFormatError, load_model, save_model

__all__ = [
    "Calibrator",
    "FeatureValues",
    "LeadModel",
    "ModelFormatError",
    "ModelInput",
    "Prediction",
    "load_model",
    "save_model",
]
