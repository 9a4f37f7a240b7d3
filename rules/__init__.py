"""Rules: a safe expression language, versioned YAML rule packs, and their evaluation.

The family, one concept per module:

* :mod:`~rules.expressions` the whitelisted expression language and its functions
* :mod:`~rules.compiled` a pack's checked expressions folded into one function
* :mod:`~rules.pack` YAML packs: params, modes, suppression windows, all or nothing
* :mod:`~rules.engine` outcomes per event (hit, no hit, error) and per batch
* :mod:`~rules.suppression` per-rule, per-entity suppression windows in Redis
* :mod:`~rules.reload` hot reload: the engine in force, swapped whole
* :mod:`~rules.runtime` the configured packs as the flow runs them, per batch
* :mod:`~rules.backtest` packs replayed over recorded traffic, per-rule figures
* :mod:`~rules.cli` ``riskwatch rules test|backtest|reload``
* :mod:`~rules.errors` the exceptions
"""
