"""The command tests rank with the training tests' small trained model (its own instance in this package)."""

from tests.training.conftest import small_history, trained

__all__ = ["small_history", "trained"]
