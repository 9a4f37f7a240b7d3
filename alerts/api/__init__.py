"""The case queue's HTTP API and web UI, one FastAPI app.

- :mod:`alerts.api.app`: :func:`create_app`, the app over a case desk.
- :mod:`alerts.api.auth`: bearer tokens and the roles each route needs.
- :mod:`alerts.api.routes`: the JSON API under ``/api/v1`` (OpenAPI at ``/openapi.json``).
- :mod:`alerts.api.ui`: the server-rendered pages under ``/ui``.
- :mod:`alerts.api.chart`: the 30-day income/expenditure chart as inline SVG.
"""
