"""Ask the servers themselves who they are and whether they are healthy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from newswatch.clients import elasticsearch_client, kafka_python_config
from newswatch.settings import Settings


@dataclass(frozen=True)
class Probe:
    healthy: bool
    facts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def probe_kafka(settings: Settings, timeout: float = 5.0) -> Probe:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        config = kafka_python_config(settings) | {
            "client_id": "newswatch-probe",
            "request_timeout_ms": int(timeout * 1000),
        }
        admin = KafkaAdminClient(**config)
    except (KafkaError, OSError, ValueError) as exc:
        return Probe(False, error=f"{type(exc).__name__}: {exc}")
    try:
        cluster = admin.describe_cluster()
        broker_id = cluster["brokers"][0]["broker_id"]
        versions = admin.get_broker_version_data(broker_id)
        features = admin.describe_features()
        api = versions.api_versions
        facts: dict[str, Any] = {
            "cluster_id": cluster.get("cluster_id"),
            "brokers": len(cluster.get("brokers", [])),
            "api_keys": len(api),
            "api_versions": ", ".join(
                f"{name} v{api[key][0]}-{api[key][1]}" for key, name in _API_NAMES.items() if key in api
            ),
            "metadata.version": features.get("metadata.version", {}).get("finalized", ("?",))[0],
        }
        return Probe(True, facts)
    except (KafkaError, OSError, ValueError, LookupError) as exc:
        return Probe(False, error=f"{type(exc).__name__}: {exc}")
    finally:
        admin.close()


_API_NAMES = {0: "Produce", 1: "Fetch", 3: "Metadata", 18: "ApiVersions"}


def probe_elasticsearch(settings: Settings, timeout: float = 5.0) -> Probe:
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    es = elasticsearch_client(settings).options(request_timeout=timeout, max_retries=0)
    try:
        health = es.cluster.health()
        nodes = es.nodes.info(node_id="_local", metric="_none")
        node = next(iter(nodes.body.get("nodes", {}).values()), {})
        facts = {
            "cluster": health.get("cluster_name"),
            "status": health.get("status"),
            "version": node.get("version"),
            "build_flavor": node.get("build_flavor"),
            "x-elastic-product": health.meta.headers.get("x-elastic-product"),
        }
        return Probe(health.get("status") in ("green", "yellow"), facts)
    except (ApiError, TransportError) as exc:
        return Probe(False, error=f"{type(exc).__name__}: {exc}")
    finally:
        es.close()
