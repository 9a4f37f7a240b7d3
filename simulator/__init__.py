"""Labelled, multi-channel bank traffic for testing riskwatch.

The simulator builds a population of customers in a few segments (young
mobile-first, families, seniors, small businesses) living in real Chinese
cities, with accounts, card and device tokens, incomes, bills and everyday
habits, and the merchants, ATMs, branches, payment platforms and other
banks' accounts around them. It lets them live for a number of days and
injects named scenarios at configured rates: card fraud, money laundering,
and legitimate look-alikes that a naive detector flags. Out comes one
stream of :class:`~riskwatch.contracts.Transaction` in event-time order,
each scenario transaction paired with its ground-truth
:class:`~riskwatch.contracts.Label` (``fraud``, ``suspicious`` or ``legit``,
with the scenario's name), whose ``ts`` is when the truth becomes known:
days later, as chargebacks and reports arrive.

Everything is decided by the config: the same :class:`SimulationConfig`
gives the same events, byte for byte once written.

The family, one concept per module:

* :mod:`~simulator.config` what a run is asked for (``SimulationConfig``)
* :mod:`~simulator.generator` the day-by-day loop (``simulate``)
* :mod:`~simulator.population` customers and their world
* :mod:`~simulator.segments` what each kind of customer earns and spends
* :mod:`~simulator.routine` legitimate traffic of a day, for every customer
* :mod:`~simulator.habits` everyday habits of a day, drawn as numpy arrays
* :mod:`~simulator.collector` keeping the garbage collector off a run's world
* :mod:`~simulator.scenarios` injected fraud, laundering and look-alikes
* :mod:`~simulator.labels` labels released in the order they become known
* :mod:`~simulator.pacing` events paced to wall time, and replay of files
* :mod:`~simulator.progress` the progress bar of long runs
* :mod:`~simulator.channels` the fields each channel carries
* :mod:`~simulator.merchants`, :mod:`~simulator.counterparties`,
  :mod:`~simulator.devices`, :mod:`~simulator.geography` the world's parts
* :mod:`~simulator.wire` events as JSON bytes, fast (``simulate_wire``)
* :mod:`~simulator.sinks` JSON lines (files, stdout) and Kafka
* :mod:`~simulator.cli` ``riskwatch simulate`` and ``riskwatch replay``
* :mod:`~simulator.errors` the exceptions

Typical use: events as objects, or straight to files as bytes::

    config = SimulationConfig(seed=7, customers=2_000, days=14)
    for event in simulate(config):
        ...  # event.txn is a Transaction, event.label a Label or None
    write_events(simulate_wire(config), JsonlSink.to_files("txns.jsonl", "labels.jsonl"))
"""

from simulator.config import DEFAULT_START, SimulationConfig
from simulator.errors import ConfigError, KafkaDeliveryError, SimulatorError, SinkError
from simulator.events import SimulatedEvent
from simulator.generator import population_of, simulate, simulate_wire
from simulator.population import Customer, Population, build_population
from simulator.scenarios import DEFAULT_RATES, FRAUD, LEGIT, SCENARIOS, SUSPICIOUS, Scenario
from simulator.sinks import JsonlSink, KafkaSink, Sink, SinkReport, write_events
from simulator.wire import WireEvent, to_wire

__all__ = [
    "DEFAULT_RATES",
    "DEFAULT_START",
    "FRAUD",
    "LEGIT",
    "SCENARIOS",
    "SUSPICIOUS",
    "ConfigError",
    "Customer",
    "JsonlSink",
    "KafkaDeliveryError",
    "KafkaSink",
    "Population",
    "Scenario",
    "SimulatedEvent",
    "SimulationConfig",
    "SimulatorError",
    "Sink",
    "SinkError",
    "SinkReport",
    "WireEvent",
    "build_population",
    "population_of",
    "simulate",
    "simulate_wire",
    "to_wire",
    "write_events",
]
