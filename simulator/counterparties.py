"""Accounts outside the customer's own: other banks and payment platforms.

Every external party is an opaque account token and a bank code. Employers,
family, landlords, staff, suppliers and fraudsters' mule accounts all share
one format, so a detector cannot tell a mule by the look of its id, only by
how money moves to it.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from simulator.ids import TokenMinter

#: The bank whose streams riskwatch watches.
OUR_BANK = "RWB"
#: Other domestic banks, by their usual abbreviations.
OTHER_BANKS: tuple[str, ...] = (
    "ICBC", "CCB", "ABC", "BOC", "BOCOM", "CMB", "SPDB", "CIB", "CITIC", "PSBC",
)  # fmt: skip
#: Third-party payment platforms; they appear as ``counterparty_bank``.
PLATFORMS: tuple[str, ...] = ("alipay", "wechatpay")
#: Who pays pensions; appears as the counterparty bank of pension credits.
PENSION_PAYER = "social_insurance"


#: Jurisdictions on the FATF lists (call for action, increased monitoring),
#: as an illustrative set: transfers there are rare and watched.
HIGH_RISK_COUNTRIES: tuple[str, ...] = ("KP", "IR", "MM", "SY", "YE", "HT", "SS")
#: Where legitimate money abroad usually goes: tuition, family, suppliers.
USUAL_ABROAD: tuple[str, ...] = ("HK", "US", "GB", "SG", "AU", "JP", "CA")


class Counterparty(NamedTuple):
    """An account at a bank or platform that money goes to or comes from.

    ``country`` is where the account is held; only accounts abroad put a
    ``country`` on the transfers that reach them. A named tuple, not a frozen
    dataclass: a world of 5,000 customers makes 20,000 of them, and a frozen
    dataclass costs several times more to make.
    """

    account: str
    bank: str
    country: str = "CN"


def external(
    minter: TokenMinter, rng: random.Random, *, internal_share: float = 0.0
) -> Counterparty:
    """A fresh account at another bank, or at ours with ``internal_share``."""
    if rng.random() < internal_share:
        bank = OUR_BANK
    else:
        bank = OTHER_BANKS[int(rng.random() * len(OTHER_BANKS))]
    return Counterparty(minter.mint("ext", rng), bank)


def pool(minter: TokenMinter, rng: random.Random, size: int) -> tuple[Counterparty, ...]:
    """``size`` fresh accounts at other banks (employers, mules)."""
    return tuple(external(minter, rng) for _ in range(size))


def abroad(minter: TokenMinter, rng: random.Random, countries: tuple[str, ...]) -> Counterparty:
    """A fresh account at a bank in one of ``countries``; the bank is named by its country."""
    country = countries[int(rng.random() * len(countries))]
    return Counterparty(minter.mint("ext", rng), f"INTL-{country}", country)
