"""Fixtures shared across test packages. The serving session (one trained, registered model imported into a temp
BentoML store, and one in-process service) is used by the serving and marketing tests: defined once here so that
each test process builds it once (BentoML's metrics may be registered only once per process)."""

from tests.serving.session import client, instance, service_cls, serving_env, trained

__all__ = ["client", "instance", "service_cls", "serving_env", "trained"]
