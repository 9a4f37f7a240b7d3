"""The case desk: one store with its actions, views, users and label outbox,
built from the settings. The API, the web UI and the ``riskwatch cases`` CLI
all start here, so they read the same policy and send labels to the same place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from alerts.actions import CaseActions
from alerts.casefile import CaseFile
from alerts.labels import LabelOutbox, LabelTarget
from alerts.policy import CasePolicy
from alerts.store import CaseStore
from alerts.users import Users
from riskwatch.clock import Clock, utc_now
from riskwatch.settings import Settings


def labels_path(settings: Settings) -> Path:
    return settings.cases.labels_path or settings.data_dir / "analyst-labels.jsonl"


def label_target(settings: Settings) -> LabelTarget:
    kafka = settings.kafka
    return LabelTarget(
        path=labels_path(settings),
        brokers=kafka.brokers,
        topic=kafka.labels_topic,
        producer_config=tuple(sorted(kafka.client_config().items())),
    )


@dataclass(frozen=True, slots=True)
class CaseDesk:
    store: CaseStore
    actions: CaseActions
    casefile: CaseFile
    users: Users
    outbox: LabelOutbox

    @classmethod
    def open(
        cls,
        url: str,
        target: LabelTarget,
        *,
        policy: CasePolicy | None = None,
        clock: Clock = utc_now,
    ) -> CaseDesk:
        store = CaseStore(url, clock=clock, policy=policy)
        return cls(
            store, CaseActions(store), CaseFile(store), Users(store), LabelOutbox(store, target)
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = utc_now) -> CaseDesk:
        return cls.open(
            settings.database_url,
            label_target(settings),
            policy=CasePolicy.from_settings(settings),
            clock=clock,
        )

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
