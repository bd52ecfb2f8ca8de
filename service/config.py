"""All settings in one place (environment ``SIEVE_*``, a ``.env`` file, or an optional YAML file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from indexers.encoders.base import DEFAULT_MODEL
from service.specs import PipelineSpec


def _default_data_dir() -> Path:
    shared = Path("../shared/datasets")
    return shared if shared.is_dir() else Path("datasets")


class Settings(BaseSettings):
    """Read once at start-up and never mutated."""

    model_config = SettingsConfigDict(env_prefix="SIEVE_", env_file=".env", extra="ignore",
                                      env_nested_delimiter="__")

    index_root: Path = Path("indexes")
    data_dir: Path = Field(default_factory=_default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(4, ge=1, description="threads for model and index work (off the event loop)")
    max_body_bytes: int = Field(1_000_000, ge=1024)
    max_k: int = Field(1000, ge=1)
    max_query_chars: int = Field(4096, ge=1)
    pipeline: PipelineSpec = PipelineSpec()
    embedding_models: list[str] = Field(default_factory=lambda: [DEFAULT_MODEL],
                                        description="models /v1/embeddings serves (loaded on first use)")
    max_embedding_inputs: int = Field(256, ge=1)
    use_gpu: bool = False
    log_level: str = "INFO"
