"""All settings in one place (environment ``SIEVE_*``, a ``.env`` file, or a YAML file named by ``SIEVE_CONFIG_FILE``).

Precedence, highest first: arguments to ``Settings(...)``, environment, ``.env``, the YAML file, the defaults below.
Every field is listed with its default in the README's Settings table (a test keeps the two in step).
"""

from __future__ import annotations

import ipaddress
import os
import typing
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from indexers.encoders.base import DEFAULT_MODEL
from kernel.errors import SieveError
from rankers.specs import RerankerSpec
from service.specs import PipelineSpec

CONFIG_FILE_ENV = "SIEVE_CONFIG_FILE"
Scope = Literal["read", "admin"]
TRAINED_RERANKER = "models/sieve-ce-scifact"  # what `sieve train cross-encoder` writes by default
UNTRAINED_RERANKER = "models/sieve-ce-untrained"  # built from the packaged MiniLM when no trained model exists


class InsecureSettings(SieveError):
    """The settings would expose the service (admin routes included) to the network without API keys."""


def _default_rerankers() -> tuple[str, ...]:
    """The trained cross-encoder when it exists, else the untrained similarity cross-encoder (built on start-up)."""
    return (TRAINED_RERANKER,) if Path(TRAINED_RERANKER).is_dir() else (UNTRAINED_RERANKER,)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _default_data_dir() -> Path:
    shared = Path("../shared/datasets")
    return shared if shared.is_dir() else Path("datasets")


class _Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CacheSettings(_Group):
    """Query vectors and whole search results. Redis when ``url`` is set, else an in-process LRU."""

    enabled: bool = True
    url: str | None = Field(None, description="redis://host:port/db; unset: the in-process LRU")
    ttl_s: float = Field(3600.0, gt=0)
    max_entries: int = Field(10_000, ge=1, description="the in-process LRU's size bound")
    max_item_bytes: int = Field(1_000_000, ge=1, description="larger values are not cached")
    timeout_ms: float = Field(100.0, gt=0, description="one Redis call; a slower one counts as a failure")
    trip_after: int = Field(3, ge=1, description="failures in a row after which Redis is bypassed for retry_s")
    retry_s: float = Field(5.0, gt=0, description="how long Redis is bypassed once tripped; then it is tried again")
    prefix: str = "sieve:"
    vectors: bool = True
    results: bool = True


class BatchingSettings(_Group):
    """Micro-batching of model calls across concurrent requests (``service/batching.py``)."""

    enabled: bool = True
    max_batch: int = Field(32, ge=1, le=1024)
    max_wait_ms: float = Field(2.0, ge=0, le=100)
    max_queue: int = Field(1024, ge=1, description="texts waiting per model; more get 503 Overloaded")
    pass_size: int = Field(8, ge=1, le=1024, description="texts per forward pass within a batch, grouped by length "
                                                         "so little of each pass is padding")
    concurrency: int = Field(1, ge=1, le=64, description="batches in flight per model at once")


class ApiKey(_Group):
    scope: Scope = "read"
    rate_per_s: float | None = Field(None, gt=0, description="overrides rate_limit.rate_per_s for this key")
    name: str | None = Field(None, description="what logs and metrics call this key (default: a hash prefix)")


class AuthSettings(_Group):
    """API keys (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``). No keys configured: auth is off."""

    api_keys: dict[str, ApiKey] = Field(default_factory=dict, description='{"KEY": "read"|"admin"|{scope, ...}}')
    public_paths: tuple[str, ...] = ("/livez", "/readyz", "/healthz", "/metrics", "/playground", "/docs",
                                     "/docs/oauth2-redirect", "/redoc", "/openapi.json")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _scope_shorthand(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: {"scope": v} if isinstance(v, str) else v for k, v in value.items()}
        return value


class RateLimitSettings(_Group):
    """Token bucket per API key (per client address when auth is off)."""

    rate_per_s: float | None = Field(None, gt=0, description="unset: no limit")
    burst: int = Field(20, ge=1)


class CorsSettings(_Group):
    allow_origins: tuple[str, ...] = Field((), description="empty: no CORS headers at all")
    allow_methods: tuple[str, ...] = ("GET", "POST", "OPTIONS")
    allow_headers: tuple[str, ...] = ("Authorization", "X-API-Key", "Content-Type", "X-Request-ID")
    allow_credentials: bool = False
    max_age_s: int = Field(600, ge=0)


class RerankSettings(_Group):
    """Rerankers the rerank routes serve (``/v2/rerank``, ``/v1/rerank``, ``/rerank``) and ``/v1/search`` may name
    (loaded on first use), and the optional default second stage of ``/v1/search``."""

    models: tuple[str, ...] = Field(default_factory=_default_rerankers,
                                    description="cross-encoders (paths or HF ids); the first is the default. "
                                                "Default: models/sieve-ce-scifact when it exists, else "
                                                "models/sieve-ce-untrained (built from MiniLM on start-up)")
    backend: Literal["torch", "onnx"] = Field("torch", description="how `models` run: torch or ONNX Runtime")
    quantize: Literal["none", "int8"] = Field("none", description="onnx backend: int8 dynamically quantised weights")
    rankers: dict[str, RerankerSpec] = Field(default_factory=dict,
                                             description="more served rerankers by name: {name: RerankerSpec}")
    max_documents: int = Field(1000, ge=1, description="documents per rerank request")
    max_length: int = Field(512, ge=16, le=8192, description="tokens per (query, document) pair; longer are cut")
    batch_size: int = Field(32, ge=1)
    search: RerankerSpec | None = Field(None, description="reranks /v1/search's top `depth`; unset: no second stage")


class TracingSettings(_Group):
    """OpenTelemetry spans per request and per stage; needs ``pip install 'sieve[otel]'``."""

    enabled: bool = False
    exporter: Literal["otlp", "console"] = "otlp"
    endpoint: str | None = Field(None, description="OTLP/HTTP endpoint; unset: the exporter's own default")
    service_name: str = "sieve"


class WriteSettings(_Group):
    """Live writes (``indexers/segments/``): each change is logged (fsync) and searchable from an in-memory delta;
    a background merge folds the log into a new base once the delta reaches ``merge_after``."""

    merge_after: int = Field(5000, ge=1, description="delta rows (upserted doc versions) + tombstones at which a "
                                                     "background merge folds the log into a new base")


class RaySettings(_Group):
    """Sharded collections (``sieve index build --ray --shards N``) served through Ray actors (``sieve serve --ray``;
    needs the ``ray`` extra). Off: sharded collection folders are not served."""

    enabled: bool = False
    address: str | None = Field(None, description="an existing Ray cluster; unset: a local one the server starts")
    num_cpus: int = Field(2, ge=1, description="CPUs of the local cluster (no address)")
    shard_timeout_ms: float = Field(1000.0, gt=0, description="per-shard deadline; a later or failed shard is left "
                                                              "out and listed in `degraded` as shard:<n>")
    shard_cpus: float = Field(0.25, ge=0, description="CPUs Ray reserves for each shard actor")
    replicas: int = Field(1, ge=1, le=16, description="actors per shard (queries go round-robin, one failover)")
    max_restarts: int = Field(-1, ge=-1, description="times Ray restarts a dead shard actor (-1: without limit)")


class Settings(BaseSettings):
    """Read once at start-up and never mutated."""

    model_config = SettingsConfigDict(env_prefix="SIEVE_", env_file=".env", extra="ignore",
                                      env_nested_delimiter="__")

    index_root: Path = Path("indexes")
    data_dir: Path = Field(default_factory=_default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    allow_insecure: bool = Field(False, description="serve a non-loopback host with auth off (no API keys); "
                                                    "without it such a start is refused")
    workers: int = Field(4, ge=1, description="threads for model and index work (off the event loop)")
    max_body_bytes: int = Field(1_000_000, ge=1024)
    max_k: int = Field(1000, ge=1)
    max_query_chars: int = Field(4096, ge=1)
    pipeline: PipelineSpec = PipelineSpec()
    embedding_models: list[str] = Field(default_factory=lambda: [DEFAULT_MODEL],
                                        description="models /v1/embeddings serves (loaded on first use)")
    max_embedding_inputs: int = Field(256, ge=1)
    admin_models: list[str] = Field(default_factory=list,
                                    description="more encoders POST /v1/collections may build dense indexes with, "
                                                "besides embedding_models and those of loaded collections")
    use_gpu: bool = False
    model_dtype: Literal["float32", "bfloat16"] = Field(
        "float32", description="precision of the service's torch encoders (autocast); bfloat16 pays off on CPUs with "
                               "AVX512-BF16/AMX and on GPUs, with batching on; vectors stay within cos 0.9999")
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    deadline_ms: float = Field(3000.0, gt=0, description="a request's time budget unless it sends timeout_ms")
    max_deadline_ms: float = Field(60_000.0, gt=0, description="the largest timeout_ms a request may ask for")
    cache: CacheSettings = CacheSettings()
    batching: BatchingSettings = BatchingSettings()
    auth: AuthSettings = AuthSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    cors: CorsSettings = CorsSettings()
    tracing: TracingSettings = TracingSettings()
    writes: WriteSettings = WriteSettings()
    rerank: RerankSettings = Field(default_factory=RerankSettings)  # per Settings(): the default model is looked up
    ray: RaySettings = RaySettings()

    def check_exposure(self) -> None:
        """Refuse to serve a non-loopback ``host`` with auth off unless ``allow_insecure`` says so.

        Raises:
            InsecureSettings: the admin routes (create, upsert, delete, drop) would be open to the network.
        """
        if self.auth.api_keys or self.allow_insecure or is_loopback(self.host):
            return
        raise InsecureSettings(
            f"refusing to serve {self.host}:{self.port} with auth off: anyone who can reach it could change or drop "
            "collections. Set SIEVE_AUTH__API_KEYS (e.g. '{\"<secret>\": \"admin\"}'), bind 127.0.0.1, or set "
            "SIEVE_ALLOW_INSECURE=1 to accept it")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings, dotenv_settings]
        path = os.environ.get(CONFIG_FILE_ENV)
        if path:
            if not Path(path).is_file():
                raise FileNotFoundError(f"{CONFIG_FILE_ENV}={path}: no such file")
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return (*sources, file_secret_settings)


# Read outside Settings: the YAML file's name (above) and indexers/lucene/jvm.py's JAVA_HOME switch.
OTHER_VARIABLES = frozenset({CONFIG_FILE_ENV, "SIEVE_KEEP_JAVA_HOME"})


def is_setting_variable(name: str) -> bool:
    """Whether ``SIEVE_FIELD`` or ``SIEVE_GROUP__FIELD`` (any depth; below a map, any key) names a real setting.

    ``Settings`` ignores unknown variables, so a deployment file's typo would go unnoticed: scripts/check_docker.sh
    and the compose test check every variable with this.
    """
    if name in OTHER_VARIABLES:
        return True
    model: type[BaseModel] = Settings
    parts = name.removeprefix("SIEVE_").lower().split("__")
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        if i == len(parts) - 1:
            return True
        kinds = [field.annotation, *typing.get_args(field.annotation)]
        if any(typing.get_origin(k) is dict or k is dict for k in kinds):
            return True
        nested = [k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)]
        if not nested:
            return False
        model = nested[0]
    return False
