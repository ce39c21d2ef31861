"""The code file MLflow logs and runs to build the pyfunc ("models from code"): never imported by leadrank."""

from mlflow.models import set_model

from model.pyfunc import LeadModelPyfunc

set_model(LeadModelPyfunc())
