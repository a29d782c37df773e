"""Client construction from Settings: the one place that knows how to reach Kafka and Elasticsearch."""

from __future__ import annotations

from typing import Any

from elasticsearch import AsyncElasticsearch, Elasticsearch

from newswatch.settings import Settings


def _kafka_security(settings: Settings) -> dict[str, Any]:
    """Security options; kafka-python and aiokafka name them alike."""
    config: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if settings.kafka_sasl_mechanism:
        config["sasl_mechanism"] = settings.kafka_sasl_mechanism
        config["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            config["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return config


def kafka_python_config(settings: Settings) -> dict[str, Any]:
    """Connection options for kafka-python clients (producer, consumer, admin)."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap.split(","),
        "request_timeout_ms": int(settings.request_timeout * 1000) + 20_000,
        **_kafka_security(settings),
    }


def aiokafka_config(settings: Settings) -> dict[str, Any]:
    return {"bootstrap_servers": settings.kafka_bootstrap, **_kafka_security(settings)}


def _es_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "hosts": [settings.elasticsearch_endpoint],
        "request_timeout": settings.request_timeout,
        "retry_on_timeout": True,
        "max_retries": 2,
    }
    if settings.elasticsearch_api_key is not None:
        options["api_key"] = settings.elasticsearch_api_key.get_secret_value()
    elif settings.elasticsearch_username:
        password = settings.elasticsearch_password.get_secret_value() if settings.elasticsearch_password else ""
        options["basic_auth"] = (settings.elasticsearch_username, password)
    if settings.elasticsearch_ca_certs is not None:
        options["ca_certs"] = str(settings.elasticsearch_ca_certs)
    return options


def elasticsearch_client(settings: Settings) -> Elasticsearch:
    return Elasticsearch(**_es_options(settings))


def async_elasticsearch_client(settings: Settings) -> AsyncElasticsearch:
    return AsyncElasticsearch(**_es_options(settings))
