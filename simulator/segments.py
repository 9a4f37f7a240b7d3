"""Customer segments: what each kind of customer earns and how they spend it.

Segments are data, not code. Each one has an income (a monthly salary or
pension on a fixed day, or a small business's daily receipts), fixed monthly
bills, and everyday habits: how often per day, through which channels, at
which kinds of merchant, at what hours, for how much. Adding a segment or a
habit means adding a row here; :mod:`simulator.routine` turns the rows into
transactions.

Amounts of everyday spending are log-normal around a median, clipped to a
plausible range, and scaled per customer (see
:func:`simulator.population.build_population`) so that what a customer
spends tracks what they earn.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

Weighted = tuple[tuple[str, float], ...]
#: Local-time windows as (from hour, to hour, weight).
Hours = tuple[tuple[float, float, float], ...]

_DAYTIME: Hours = ((9.0, 21.0, 1.0),)
_MEALS: Hours = ((11.0, 13.5, 0.45), (17.0, 21.5, 0.55))
_EVENING: Hours = ((12.0, 14.0, 0.3), (19.0, 24.0, 0.7))
_OFFICE: Hours = ((9.0, 17.0, 1.0),)


def weighted(pairs: Weighted, rng: random.Random) -> str:
    """One item of ``pairs`` drawn by its weight (weights sum to 1).

    A single item is returned without a draw: most habits have one channel.
    """
    if len(pairs) == 1:
        return pairs[0][0]
    u = rng.random()
    for item, weight in pairs:
        u -= weight
        if u < 0.0:
            return item
    return pairs[-1][0]


@dataclass(frozen=True, slots=True)
class Habit:
    """One recurring kind of everyday transaction.

    ``income_share`` marks a habit that *is* income (a business's receipts):
    its median is then derived from the customer's monthly income so that
    the habit brings in that share of it. ``scaled`` habits follow the
    customer's spending scale (half in how often, half in how much: people
    with less money shop less, and cheaper, but groceries do not get half
    price); unscaled ones (money from friends, refunds) keep their nominal
    amounts and rates. ``round_to`` makes cash come in whole notes.
    ``online`` habits buy from online merchants whatever the channel.
    ``payee`` says whom transfers go to or come from: the customer's
    ``contacts``, their ``suppliers``, their payment ``platform``, or their
    account ``abroad``.
    """

    name: str
    kind: str
    per_day: float
    channels: Weighted
    median: float
    sigma: float
    low: float
    high: float
    hours: Hours = _DAYTIME
    categories: tuple[str, ...] = ()
    weekend: float = 1.0
    scaled: bool = True
    income_share: float = 0.0
    round_to: int = 0
    online: bool = False
    payee: str = "contacts"

    def mean(self) -> float:
        """Expected amount at scale 1, ignoring the clipping."""
        return self.median * math.exp(self.sigma * self.sigma / 2.0)

    @property
    def spending(self) -> bool:
        """Everyday expenditure, which follows the customer's spending scale."""
        return self.scaled and self.income_share == 0.0 and self.kind not in _CREDITS


@dataclass(frozen=True, slots=True)
class BillSpec:
    """A monthly obligation: rent, mortgage, utilities, payroll.

    The amount is either a share of monthly income (``share``) or a range in
    CNY (``amount``); it is fixed per customer, and varies month to month by
    up to ``varies`` (utilities do, rent does not). ``payee`` is
    ``landlord``, ``staff`` (one payment per employee) or a biller type.
    A bill with ``instead_of`` is only considered when the named one was not
    given to the customer (rent for those without a mortgage).
    """

    name: str
    kind: str
    channels: Weighted
    payee: str
    days: tuple[int, int]
    share: tuple[float, float] | None = None
    amount: tuple[float, float] | None = None
    probability: float = 1.0
    varies: float = 0.0
    instead_of: str | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """A kind of customer, with income, bills, habits and banking habits."""

    name: str
    share: float
    income_kind: str  # "salary" | "pension" | "business"
    income: tuple[float, float]
    paydays: tuple[int, ...]
    savings_months: tuple[float, float]
    habits: tuple[Habit, ...]
    bills: tuple[BillSpec, ...]
    phone: float
    computer: float
    second_card: float
    trip_rate: float
    abroad_share: float = 0.1
    staff: tuple[int, int] = (0, 0)
    suppliers: tuple[int, int] = (0, 0)

    def daily_spend_at_scale_one(self) -> float:
        """Expected everyday spending per day before per-customer scaling."""
        return sum(h.per_day * h.mean() for h in self.habits if h.spending)


_CREDITS = frozenset({"transfer_in", "cash_deposit", "refund"})

_CASH = Habit("cash", "cash_withdrawal", 0.04, (("atm", 1.0),), 400, 0.5, 100, 2000, round_to=100)

YOUNG = Segment(
    name="young_mobile",
    share=0.35,
    income_kind="salary",
    income=(6_000, 18_000),
    paydays=(5, 10, 10, 15, 15, 20, 25),
    savings_months=(0.3, 3.0),
    phone=0.98,
    computer=0.4,
    second_card=0.3,
    trip_rate=0.004,
    habits=(
        Habit("coffee", "purchase", 0.8, (("thirdparty", 0.7), ("pos", 0.2), ("mobile", 0.1)),
              22, 0.4, 8, 120, ((7.0, 10.0, 0.6), (14.0, 17.0, 0.4)), ("dining",)),
        Habit("dining", "purchase", 0.9, (("thirdparty", 0.6), ("pos", 0.3), ("mobile", 0.1)),
              45, 0.5, 20, 400, _MEALS, ("dining",), weekend=1.3),
        Habit("groceries", "purchase", 0.45, (("thirdparty", 0.4), ("pos", 0.4), ("mobile", 0.2)),
              70, 0.5, 20, 400, _DAYTIME, ("groceries",)),
        Habit("online_shopping", "purchase", 0.35, (("online", 0.6), ("thirdparty", 0.4)),
              110, 0.8, 20, 3000, _EVENING,
              ("clothing", "electronics", "department", "digital", "misc"), online=True),
        Habit("transit", "purchase", 0.5, (("thirdparty", 1.0),),
              5, 0.4, 2, 20, ((7.0, 9.5, 0.5), (17.0, 20.0, 0.5)), ("transit",), weekend=0.4),
        Habit("friend_transfer", "transfer_out", 0.15, (("mobile", 0.6), ("thirdparty", 0.4)),
              200, 0.7, 20, 5000, ((10.0, 23.0, 1.0),)),
        Habit("friend_credit", "transfer_in", 0.08, (("mobile", 0.5), ("thirdparty", 0.5)),
              250, 0.7, 20, 3000, ((10.0, 23.0, 1.0),), scaled=False),
        _CASH,
        Habit("refund", "refund", 0.01, (("pos", 1.0),), 150, 0.7, 20, 1500, _DAYTIME,
              ("clothing", "department", "electronics"), scaled=False),
    ),
    bills=(
        BillSpec("rent", "transfer_out", (("mobile", 0.8), ("online", 0.2)), "landlord",
                 (1, 5), share=(0.22, 0.35), probability=0.75),
        BillSpec("telecom", "bill_payment", (("mobile", 1.0),), "telecom", (5, 25),
                 amount=(50, 200)),
        BillSpec("utility", "bill_payment", (("mobile", 0.6), ("thirdparty", 0.4)), "utility",
                 (10, 25), amount=(60, 300), probability=0.8, varies=0.25),
    ),
)  # fmt: skip

FAMILY = Segment(
    name="family",
    share=0.30,
    income_kind="salary",
    income=(9_000, 35_000),
    paydays=(5, 10, 10, 15, 15, 20, 25),
    savings_months=(1.0, 6.0),
    phone=0.85,
    computer=0.6,
    second_card=0.5,
    trip_rate=0.003,
    habits=(
        Habit("groceries", "purchase", 0.8, (("pos", 0.5), ("thirdparty", 0.3), ("mobile", 0.2)),
              120, 0.5, 20, 400, _DAYTIME, ("groceries",), weekend=1.4),
        Habit("dining", "purchase", 0.55, (("thirdparty", 0.5), ("pos", 0.5)),
              80, 0.5, 20, 400, _MEALS, ("dining",), weekend=1.5),
        Habit("snacks", "purchase", 0.5, (("thirdparty", 0.7), ("pos", 0.3)),
              25, 0.5, 8, 120, ((8.0, 18.0, 1.0),), ("dining",)),
        Habit("transit", "purchase", 0.3, (("thirdparty", 1.0),),
              5, 0.4, 2, 20, ((7.0, 9.5, 0.5), (17.0, 20.0, 0.5)), ("transit",), weekend=0.4),
        Habit("fuel", "purchase", 0.18, (("pos", 1.0),), 250, 0.3, 100, 600, _DAYTIME, ("fuel",)),
        Habit("online_shopping", "purchase", 0.3, (("online", 0.5), ("thirdparty", 0.5)),
              130, 0.8, 20, 5000, _EVENING,
              ("clothing", "electronics", "department", "groceries", "misc"), online=True),
        Habit("shopping", "purchase", 0.12, (("pos", 1.0),), 200, 0.8, 30, 5000, _DAYTIME,
              ("department", "clothing", "electronics"), weekend=2.0),
        Habit("pharmacy", "purchase", 0.08, (("pos", 1.0),), 60, 0.6, 10, 800, _DAYTIME,
              ("pharmacy",)),
        Habit("family_transfer", "transfer_out", 0.08, (("mobile", 0.6), ("online", 0.4)),
              600, 0.8, 100, 10_000, ((9.0, 22.0, 1.0),)),
        Habit("family_credit", "transfer_in", 0.03, (("mobile", 1.0),),
              500, 0.8, 50, 5000, ((9.0, 22.0, 1.0),), scaled=False),
        Habit("overseas_transfer", "transfer_out", 0.004, (("online", 0.7), ("mobile", 0.3)),
              8000, 0.8, 500, 80_000, _OFFICE, payee="abroad"),
        Habit("cash", "cash_withdrawal", 0.07, (("atm", 1.0),), 600, 0.5, 100, 2000,
              round_to=100),
        Habit("refund", "refund", 0.015, (("pos", 1.0),), 200, 0.7, 20, 2000, _DAYTIME,
              ("clothing", "department", "electronics"), scaled=False),
    ),
    bills=(
        BillSpec("mortgage", "bill_payment", (("online", 1.0),), "mortgage", (5, 20),
                 share=(0.2, 0.35), probability=0.6),
        BillSpec("rent", "transfer_out", (("online", 0.5), ("mobile", 0.5)), "landlord",
                 (1, 5), share=(0.15, 0.3), probability=0.8, instead_of="mortgage"),
        BillSpec("utility", "bill_payment", (("online", 0.5), ("mobile", 0.5)), "utility",
                 (10, 20), amount=(150, 600), varies=0.25),
        BillSpec("telecom", "bill_payment", (("mobile", 0.7), ("online", 0.3)), "telecom",
                 (5, 25), amount=(80, 300)),
        BillSpec("school", "bill_payment", (("online", 1.0),), "school", (1, 10),
                 amount=(500, 3000), probability=0.5),
        BillSpec("insurance", "bill_payment", (("online", 1.0),), "insurance", (1, 28),
                 amount=(300, 1500), probability=0.4),
    ),
)  # fmt: skip

SENIOR = Segment(
    name="senior",
    share=0.20,
    income_kind="pension",
    income=(2_500, 7_000),
    paydays=(5, 10, 15, 20),
    savings_months=(6.0, 30.0),
    phone=0.45,
    computer=0.1,
    second_card=0.1,
    trip_rate=0.002,
    abroad_share=0.05,
    habits=(
        Habit("groceries", "purchase", 0.8, (("pos", 0.7), ("thirdparty", 0.2), ("mobile", 0.1)),
              45, 0.5, 20, 400, ((7.0, 11.0, 0.7), (15.0, 18.0, 0.3)), ("groceries",)),
        Habit("market", "purchase", 0.6, (("pos", 0.6), ("thirdparty", 0.4)),
              25, 0.5, 5, 150, ((6.5, 10.0, 1.0),), ("groceries",)),
        Habit("pharmacy", "purchase", 0.12, (("pos", 1.0),), 60, 0.6, 10, 800,
              ((8.0, 17.0, 1.0),), ("pharmacy",)),
        Habit("dining", "purchase", 0.2, (("pos", 0.7), ("thirdparty", 0.3)),
              30, 0.5, 15, 300, _MEALS, ("dining",)),
        Habit("cash", "cash_withdrawal", 0.05, (("atm", 1.0),), 300, 0.5, 100, 2000,
              ((8.0, 18.0, 1.0),), round_to=100),
        Habit("counter_cash", "cash_withdrawal", 0.04, (("counter", 1.0),), 600, 0.6, 200, 5000,
              ((9.0, 16.0, 1.0),), round_to=100),
        Habit("counter_deposit", "cash_deposit", 0.01, (("counter", 1.0),), 1000, 0.7, 100,
              10_000, ((9.0, 16.0, 1.0),), scaled=False, round_to=100),
        Habit("family_transfer", "transfer_out", 0.03, (("counter", 0.5), ("mobile", 0.5)),
              600, 0.7, 100, 10_000, ((9.0, 17.0, 1.0),)),
        Habit("family_credit", "transfer_in", 0.03, (("mobile", 0.6), ("online", 0.4)),
              800, 0.7, 100, 5000, ((9.0, 21.0, 1.0),), scaled=False),
    ),
    bills=(
        BillSpec("utility", "bill_payment", (("counter", 0.5), ("mobile", 0.5)), "utility",
                 (10, 20), amount=(80, 300), varies=0.25),
        BillSpec("telecom", "bill_payment", (("counter", 0.5), ("mobile", 0.5)), "telecom",
                 (5, 25), amount=(50, 120)),
    ),
)  # fmt: skip

SMALL_BUSINESS = Segment(
    name="small_business",
    share=0.15,
    income_kind="business",
    income=(30_000, 200_000),
    paydays=(),
    savings_months=(0.3, 1.5),
    phone=0.95,
    computer=0.9,
    second_card=0.6,
    trip_rate=0.004,
    staff=(1, 4),
    suppliers=(2, 6),
    habits=(
        Habit("settlement", "transfer_in", 2.5, (("thirdparty", 1.0),), 0, 0.6, 20, 200_000,
              ((1.0, 3.0, 0.4), (9.0, 18.0, 0.6)), income_share=0.75, payee="platform"),
        Habit("cash_takings", "cash_deposit", 0.25, (("counter", 1.0),), 0, 0.5, 100, 100_000,
              ((16.0, 18.0, 1.0),), income_share=0.15, round_to=100),
        Habit("atm_deposit", "cash_deposit", 0.1, (("atm", 1.0),), 0, 0.5, 100, 20_000,
              ((18.0, 22.0, 1.0),), income_share=0.10, round_to=100),
        Habit("supplier", "transfer_out", 0.3, (("online", 1.0),), 3000, 0.8, 200, 200_000,
              _OFFICE, weekend=0.3, payee="suppliers"),
        Habit("overseas_supplier", "transfer_out", 0.02, (("online", 1.0),), 15_000, 0.8, 1000,
              200_000, _OFFICE, weekend=0.1, payee="abroad"),
        Habit("wholesale", "purchase", 0.25, (("pos", 1.0),), 1000, 0.7, 100, 30_000,
              ((6.0, 12.0, 1.0),), ("wholesale",)),
        Habit("dining", "purchase", 0.5, (("thirdparty", 0.6), ("pos", 0.4)),
              60, 0.5, 20, 400, _MEALS, ("dining",)),
        Habit("groceries", "purchase", 0.25, (("pos", 0.5), ("thirdparty", 0.5)),
              100, 0.5, 20, 400, _DAYTIME, ("groceries",)),
        Habit("online_shopping", "purchase", 0.2, (("online", 1.0),), 300, 0.8, 20, 5000,
              _EVENING, ("electronics", "misc", "department"), online=True),
        Habit("cash", "cash_withdrawal", 0.05, (("atm", 1.0),), 1000, 0.5, 100, 2000,
              round_to=100),
    ),
    bills=(
        BillSpec("shop_rent", "transfer_out", (("online", 1.0),), "landlord", (1, 5),
                 share=(0.08, 0.15)),
        BillSpec("payroll", "transfer_out", (("online", 1.0),), "staff", (10, 15),
                 amount=(4000, 9000)),
        BillSpec("utility", "bill_payment", (("online", 1.0),), "utility", (10, 20),
                 amount=(500, 3000), varies=0.3),
        BillSpec("telecom", "bill_payment", (("online", 1.0),), "telecom", (5, 25),
                 amount=(100, 500)),
    ),
)  # fmt: skip

SEGMENTS: tuple[Segment, ...] = (YOUNG, FAMILY, SENIOR, SMALL_BUSINESS)
