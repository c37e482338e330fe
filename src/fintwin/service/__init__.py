"""The decision service: FastAPI building blocks (security, schemas, stores) and the app."""
