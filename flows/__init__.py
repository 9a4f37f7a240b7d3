"""The Bytewax dataflows of riskwatch, with their sources, sinks and operators.

Flows are wiring only: :mod:`flows.monitor` builds the monitor from the
settings with ``get_flow``; the deciding happens in ``detectors`` and
``rules``, the storing in ``alerts``.
"""
