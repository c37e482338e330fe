"""The decision service's routes, one module per area; each route declares its roles."""
