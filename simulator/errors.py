"""The simulator's own exceptions, so callers can tell its failures apart.

Errors::

    SimulatorError
     ├── ConfigError            a SimulationConfig that cannot be simulated
     └── SinkError              events could not be written where they were sent
          └── KafkaDeliveryError  the broker refused, lost or never acknowledged a message
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Something in the traffic simulator went wrong."""


class ConfigError(SimulatorError, ValueError):
    """A simulation was asked for with settings it cannot honour.

    Also a :class:`ValueError`, so code that validates input generically
    still catches it.
    """


class SinkError(SimulatorError):
    """Simulated events could not be written to their destination."""


class KafkaDeliveryError(SinkError):
    """A message was not acknowledged by the Kafka broker.

    Raised at the latest when the sink is closed, so a run that reports
    success has had every message it produced acknowledged.
    """
