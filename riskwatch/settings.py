"""One typed, validated settings object, read at the edge and passed down.

Sources, strongest first: explicit overrides (the CLI's options), the
environment (``RISKWATCH_<SECTION>__<KEY>``, and the conventional
``REDIS_URL``, ``DATABASE_URL``, ``KAFKA_BROKERS``), a TOML file named by
``RISKWATCH_CONFIG``, then the shipped ``config/default.toml``.
"""

from __future__ import annotations

import importlib.resources
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG = importlib.resources.files("config") / "default.toml"


class SettingsError(Exception):
    """The settings are invalid; the message names the key."""


class RedisSettings(BaseModel):
    url: str | None = None
    namespace: str = "rw"


class DatabaseSettings(BaseModel):
    url: str | None = None


class KafkaSettings(BaseModel):
    brokers: str | None = None
    transactions_topic: str = "riskwatch.transactions"
    labels_topic: str = "riskwatch.labels"
    alerts_topic: str = "riskwatch.alerts"
    dead_letter_topic: str = "riskwatch.dead-letters"
    tail: bool = True
    #: Extra librdkafka settings (security.protocol, sasl.mechanism, ...).
    config: dict[str, str] = Field(default_factory=dict)
    #: The SASL password, kept out of logs and reprs.
    sasl_password: SecretStr | None = None

    def client_config(self) -> dict[str, str]:
        """librdkafka settings for producers and consumers, secret included."""
        conf = dict(self.config)
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        return conf


class ValidationSettings(BaseModel):
    max_id_length: int = Field(64, ge=8, le=128)
    max_future_seconds: int = Field(3600, ge=0)
    max_amount: str = "1000000000"


class StateSettings(BaseModel):
    """The windows are the feature catalogue's (detectors.state.WINDOWS), not settings."""

    dedup_horizon_seconds: int = Field(259200, gt=0)
    allowed_lateness_seconds: int = Field(3600, ge=0, le=72000)
    ttl_seconds: int = Field(3024000, gt=0)
    #: Customers whose decoded state a worker process keeps between batches (10-20 KB each).
    held_customers: int = Field(20000, ge=1)
    #: Hashes the short entity blobs share (detectors/entity_state.py): about the number
    #: of live entities (inactive ones leave after 8 days) / 64, so that each stays a
    #: listpack (at most hash-max-listpack-entries, 128 by default, fields).
    entity_buckets: int = Field(65536, ge=1)
    #: Events per state script call: a batch is recorded in calls of this many, pipelined,
    #: so that Redis runs one while the worker folds the next (detectors/state.py).
    trip_events: int = Field(48, ge=1)


class AnomalySettings(BaseModel):
    n_trees: int = Field(5, ge=1)
    height: int = Field(6, ge=2)
    window_size: int = Field(250, ge=10)
    seed: int = 42
    quantile: float = Field(0.995, gt=0.5, lt=1.0)
    weight: float = Field(0.05, ge=0.0, le=1.0)
    #: Learn one in this many of the events not flagged (detectors/anomaly.py says why).
    learn_every: int = Field(8, ge=1)
    #: The detector's inputs: "population" or "customer" (detectors.anomaly.INPUTS).
    inputs: Literal["population", "customer"] = "population"


class SupervisedSettings(BaseModel):
    learning_rate: float = Field(0.001, gt=0.0, le=1.0)
    fraud_weight: float = Field(1.0, ge=1.0)
    l2: float = Field(0.0, ge=0.0)
    legit_sample_rate: float = Field(0.1, gt=0.0, le=1.0)
    weight: float = Field(0.35, ge=0.0, le=1.0)
    min_frauds: int = Field(30, ge=0)
    min_legit: int = Field(1000, ge=0)


class LabelSettings(BaseModel):
    horizon_seconds: int = Field(7 * 86400, ge=60)
    release_lateness_seconds: int = Field(3600, ge=0)


class ModelStoreSettings(BaseModel):
    snapshot_interval_seconds: float = Field(60.0, gt=0)
    drift_delta: float = Field(0.002, gt=0.0, lt=1.0)
    #: The drift watch sees one event in this many (detectors/drift.py).
    drift_sample_every: int = Field(8, ge=1)


class DetectionSettings(BaseModel):
    alert_threshold: float = Field(50.0, ge=0.0, le=100.0)
    rule_packs: list[str] = Field(default_factory=lambda: ["card_fraud", "aml"])
    #: Values for params the packs declare (thresholds, country lists), by name.
    rule_params: dict[str, float | str | list[float | str]] = Field(default_factory=dict)
    #: How often (seconds) the running flow checks its packs for changes; 0: never.
    rule_reload_seconds: float = Field(5.0, ge=0.0)
    anomaly: AnomalySettings = Field(default_factory=AnomalySettings)
    supervised: SupervisedSettings = Field(default_factory=SupervisedSettings)
    labels: LabelSettings = Field(default_factory=LabelSettings)
    models: ModelStoreSettings = Field(default_factory=ModelStoreSettings)


class FlowSettings(BaseModel):
    shards: int = Field(8, ge=1, le=4096)
    batch_size: int = Field(1000, ge=1)
    epoch_interval_seconds: float = Field(10.0, gt=0)
    workers: int = Field(1, ge=1)
    #: Bytewax processes on this host (riskwatch/cluster.py): one core each.
    processes: int = Field(1, ge=1, le=64)
    #: Where to append every transaction's scores as JSON lines (for evaluation); None: off.
    scores_path: Path | None = None


class InputSettings(BaseModel):
    #: auto: Kafka when brokers are set, else the files in ``paths``, else the simulator.
    source: Literal["auto", "kafka", "file", "simulator"] = "auto"
    paths: list[Path] = Field(default_factory=list)
    #: JSONL label files read beside a file input (one Label JSON per line).
    label_paths: list[Path] = Field(default_factory=list)


class SimulatorSettings(BaseModel):
    seed: int = 7
    customers: int = Field(2000, ge=1)
    days: int = Field(14, ge=1)
    start: datetime = datetime.fromisoformat("2026-01-05T00:00:00+00:00")

    @field_validator("start")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            msg = "simulator.start needs a time zone (e.g. 2026-01-05T00:00:00Z)"
            raise ValueError(msg)
        return v


class CasesSettings(BaseModel):
    #: Repeats of a rule for a customer within this many seconds are folded,
    #: for rules that name no suppression window of their own.
    fold_window_seconds: int = Field(900, ge=0)
    #: Hours from a case's opening until it is due, by severity.
    sla_hours: dict[str, float] = Field(
        default_factory=lambda: {"critical": 4.0, "high": 24.0, "medium": 72.0, "low": 168.0}
    )
    #: Where analyst labels go without Kafka; unset: <data_dir>/analyst-labels.jsonl.
    labels_path: Path | None = None
    #: How often the server retries labels still waiting in the outbox.
    label_retry_seconds: float = Field(10.0, gt=0)


class GrafanaSettings(BaseModel):
    #: Unset: no annotations are posted (the dashboards work without them).
    url: str | None = None
    #: A Grafana service-account token with Editor rights.
    token: SecretStr | None = None
    #: Alerts of this severity and above become annotations.
    annotate_min_severity: Literal["low", "medium", "high", "critical"] = "high"
    timeout_seconds: float = Field(5.0, gt=0)


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)


class Settings(BaseSettings):
    """Everything riskwatch can be told, with its defaults in config/default.toml."""

    model_config = SettingsConfigDict(
        env_prefix="RISKWATCH_",
        env_nested_delimiter="__",
        extra="forbid",
        populate_by_name=True,
    )

    data_dir: Path = Path("var")
    timezone: str = "Asia/Shanghai"
    input: InputSettings = Field(default_factory=InputSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    flow: FlowSettings = Field(default_factory=FlowSettings)
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    cases: CasesSettings = Field(default_factory=CasesSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    grafana: GrafanaSettings = Field(default_factory=GrafanaSettings)

    # The conventional names, read straight from the environment.
    redis_url_env: str | None = Field(None, validation_alias=AliasChoices("REDIS_URL"))
    database_url_env: str | None = Field(None, validation_alias=AliasChoices("DATABASE_URL"))
    kafka_brokers_env: str | None = Field(None, validation_alias=AliasChoices("KAFKA_BROKERS"))
    grafana_url_env: str | None = Field(None, validation_alias=AliasChoices("GRAFANA_URL"))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files: list[Any] = [DEFAULT_CONFIG]
        user_file = os.environ.get("RISKWATCH_CONFIG")
        if user_file:
            files.append(Path(user_file))
        toml = TomlConfigSettingsSource(settings_cls, toml_file=files, deep_merge=True)
        return (init_settings, env_settings, toml)

    def model_post_init(self, context: Any, /) -> None:
        if self.redis_url_env and not self.redis.url:
            self.redis.url = self.redis_url_env
        if self.database_url_env and not self.database.url:
            self.database.url = self.database_url_env
        if self.kafka_brokers_env and not self.kafka.brokers:
            self.kafka.brokers = self.kafka_brokers_env
        if self.grafana_url_env and not self.grafana.url:
            self.grafana.url = self.grafana_url_env

    def replace(self, **changes: Any) -> Settings:
        """A validated copy with some keys changed; the environment is not read again.

        A section given as a dict changes only the keys it names
        (``replace(flow={"workers": 2})``); ``None`` clears a URL even when
        the environment set it.
        """
        values = self.model_dump(exclude=set(_ENV_ALIASES))
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(values.get(key), dict):
                values[key] = {**values[key], **value}
            else:
                values[key] = value
        return load_settings(**values, **dict.fromkeys(_ENV_ALIASES))

    @property
    def database_url(self) -> str:
        """The case store's URL: the configured one, else a SQLite file."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.data_dir / 'riskwatch.db'}"

    @property
    def dead_letter_path(self) -> Path:
        return self.data_dir / "dead-letters.jsonl"

    @property
    def input_source(self) -> str:
        """The source the monitor reads, with ``auto`` resolved."""
        if self.input.source != "auto":
            return self.input.source
        if self.kafka.brokers:
            return "kafka"
        if self.input.paths:
            return "file"
        return "simulator"


#: Fields that only carry REDIS_URL, DATABASE_URL, KAFKA_BROKERS and GRAFANA_URL into the sections.
_ENV_ALIASES = ("redis_url_env", "database_url_env", "kafka_brokers_env", "grafana_url_env")


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning pydantic's report into one readable error."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        msg = f"invalid settings: {problems}"
        raise SettingsError(msg) from exc
