"""The service tests' fixtures (defined in _service_app, beside their helpers)."""

from _service_app import client, credit_model, keys, model_id  # noqa: F401  (fixtures)
