"""The service tests' fixtures (defined in _service_app, beside their helpers)."""

from _service_app import client, keys, model_id  # noqa: F401  (fixtures)
