"""Injected scenarios: card fraud, money laundering, and legitimate look-alikes.

Each scenario has a name, a label (``fraud``, ``suspicious`` or ``legit``),
a default rate (the chance per customer-day of its pool that it hits) and a
shape a detector can learn, neither trivially separable nor impossible.

* :mod:`~simulator.scenarios.base` the protocol, the victim, shared helpers
* :mod:`~simulator.scenarios.card` card and account fraud (``fraud``)
* :mod:`~simulator.scenarios.aml` money laundering (``suspicious``)
* :mod:`~simulator.scenarios.lookalike` legitimate look-alikes (``legit``)
"""

from __future__ import annotations

from collections.abc import Mapping

from simulator.scenarios.aml import (
    DormantReactivation,
    FanIn,
    FanOut,
    HighRiskTransfers,
    MulePassthrough,
    Structuring,
)
from simulator.scenarios.base import FRAUD, LEGIT, SUSPICIOUS, Scenario, Target
from simulator.scenarios.card import (
    AccountTakeover,
    CardTesting,
    CompromisedCredentials,
    CompromisedTerminal,
    ImpossibleTravel,
    SkimmedAtmCashout,
    StolenCardSpree,
)
from simulator.scenarios.lookalike import RentDay, ShoppingFestival, TravelAbroad, YearEndBonus

#: Every scenario the simulator knows, by name, in the order they are drawn.
SCENARIOS: Mapping[str, Scenario] = {
    s.name: s
    for s in (
        StolenCardSpree(),
        AccountTakeover(),
        CardTesting(),
        ImpossibleTravel(),
        SkimmedAtmCashout(),
        CompromisedTerminal(),
        CompromisedCredentials(),
        Structuring(),
        MulePassthrough(),
        FanIn(),
        FanOut(),
        DormantReactivation(),
        HighRiskTransfers(),
        ShoppingFestival(),
        YearEndBonus(),
        TravelAbroad(),
        RentDay(),
    )
}
#: Chance per customer-day (of the scenario's pool) of each scenario, unless
#: configured otherwise. Chosen so that the demo's 2,000 customers over 14
#: days see a few dozen labelled transactions of each.
DEFAULT_RATES: Mapping[str, float] = {
    "stolen_card_spree": 0.0005,
    "account_takeover": 0.0004,
    "card_testing": 0.0004,
    "impossible_travel": 0.0006,
    "skimmed_atm_cashout": 0.0004,
    "compromised_terminal": 0.0008,
    "compromised_credentials": 0.0005,
    "structuring": 0.0003,
    "mule_passthrough": 0.0002,
    "fan_in": 0.00015,
    "fan_out": 0.0002,
    "dormant_reactivation": 0.004,
    "high_risk_transfers": 0.0005,
    "shopping_festival": 0.0002,
    "year_end_bonus": 0.0005,
    "travel_abroad": 0.0005,
    "rent_day": 0.0006,
}

__all__ = [
    "DEFAULT_RATES",
    "FRAUD",
    "LEGIT",
    "SCENARIOS",
    "SUSPICIOUS",
    "Scenario",
    "Target",
]
