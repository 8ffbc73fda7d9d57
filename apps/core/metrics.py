"""Prometheus metric families (prometheus-client), one registry per process, merged at /metrics.

With PROMETHEUS_MULTIPROC_DIR set (make stack, the image) every process - each web process, each
Celery worker child - writes its samples to files in that directory, and /metrics in any web
process reads them all (prometheus_client's multi-process mode), so counts cover every process.
Without it (tests, make run) the samples live in this process's default registry.

Families defined here are the contract: a feature that lands later (rate limits, the answer
cache, the breaker) increments or sets its family; the ones without a feature yet stay at zero.
"""

from __future__ import annotations

import os
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

http_requests = Counter(
    "todoassist_http_requests", "HTTP requests answered, by route pattern, method and status.", ["route", "method", "status"]
)
http_request_duration = Histogram(
    "todoassist_http_request_duration_seconds", "Time to answer an HTTP request, by route pattern.", ["route"],
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
provider_attempts = Counter(
    "todoassist_provider_attempts", "Calls to a model provider, by provider kind, operation and outcome.",
    ["provider", "operation", "outcome"],
)  # fmt: skip
provider_attempt_duration = Histogram(
    "todoassist_provider_attempt_duration_seconds", "Time of one provider call, by provider kind.", ["provider"],
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
mcp_tool_calls = Counter("todoassist_mcp_tool_calls", "MCP tools/call, by tool and outcome.", ["tool", "outcome"])
cache_lookups = Counter("todoassist_cache_lookups", "Cache lookups, by cache and result (hit/miss).", ["cache", "result"])
limit_hits = Counter("todoassist_rate_limit_hits", "Requests refused by a rate limit, by limit name.", ["limit"])
breaker_state = Gauge(
    "todoassist_breaker_state", "Circuit breaker state per provider (0 closed, 1 half-open, 2 open), as last seen.",
    ["provider"], multiprocess_mode="mostrecent",
)  # fmt: skip
celery_tasks = Counter("todoassist_celery_tasks", "Celery task outcomes, by task name.", ["task", "outcome"])

FAMILIES = (
    "todoassist_http_requests",
    "todoassist_http_request_duration_seconds",
    "todoassist_provider_attempts",
    "todoassist_provider_attempt_duration_seconds",
    "todoassist_mcp_tool_calls",
    "todoassist_cache_lookups",
    "todoassist_rate_limit_hits",
    "todoassist_breaker_state",
    "todoassist_celery_tasks",
    "todoassist_audit_chain_age_seconds",
    "todoassist_audit_spool_entries",
)


class AuditChainAgeCollector:
    """Seconds since the newest audit row, read at scrape time (one indexed query)."""

    def collect(self):
        family = GaugeMetricFamily(
            "todoassist_audit_chain_age_seconds", "Seconds since the newest audit event was written (-1: none yet)."
        )
        try:
            from apps.audit.models import AuditEvent

            newest = AuditEvent.objects.order_by("-pk").values_list("created_at", flat=True).first()
        except Exception:  # a scrape must answer even with the database down
            return
        family.add_metric([], -1.0 if newest is None else max(0.0, time.time() - newest.timestamp()))
        yield family


class AuditSpoolCollector:
    """Usage/audit entries waiting in the spool and set aside, per store, read at scrape time
    (an LLEN per Redis list, a directory read per folder: nothing opened)."""

    def collect(self):
        family = GaugeMetricFamily(
            "todoassist_audit_spool_entries",
            "Chat turns' usage and audit entries the database failed to store: pending (waiting for the drain) "
            "or dead (set aside: audit_spool --requeue-dead), per store (-1: the store could not be read).",
            labels=["store", "state"],
        )
        try:
            from apps.audit.spool import spool_status

            for store, counts in spool_status().items():
                for state, count in counts.items():
                    family.add_metric([store, state], float(count))
        except Exception:  # a scrape must answer whatever the spool's stores do
            pass
        yield family


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def render() -> bytes:
    """The text exposition of every family, merged across processes in multi-process mode."""
    from prometheus_client import REGISTRY

    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    audit = CollectorRegistry()
    audit.register(AuditChainAgeCollector())
    audit.register(AuditSpoolCollector())
    return text + _declared_without_samples(text) + generate_latest(audit)


_DEFINED = (
    http_requests, http_request_duration, provider_attempts, provider_attempt_duration, mcp_tool_calls,
    cache_lookups, limit_hits, breaker_state, celery_tasks,
)  # fmt: skip


def _declared_without_samples(text: bytes) -> bytes:
    """HELP and TYPE for families nothing has touched yet (multi-process mode lists only those with samples),
    so a scrape always names every family of the contract."""
    lines = []
    for metric in _DEFINED:
        name = metric._name
        if f"# TYPE {name} ".encode() not in text and f"# TYPE {name}_total ".encode() not in text:
            lines.append(f"# HELP {name} {metric._documentation}\n# TYPE {name} {metric._type}\n")
    return "".join(lines).encode()


def count_safely(metric, *labels: str, amount: float = 1.0) -> None:
    """Increment a counter; metrics never break the code they observe."""
    try:
        metric.labels(*labels).inc(amount)
    except Exception:  # pragma: no cover - a full disk in multi-process mode, say
        pass
