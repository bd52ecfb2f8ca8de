"""Settings: defaults, a YAML file (``SIEVE_CONFIG_FILE``), environment overrides, and the README's table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from service.config import Settings, is_setting_variable

README = Path(__file__).resolve().parents[2] / "README.md"
YAML = """
port: 9001
deadline_ms: 1500
cache:
  url: redis://127.0.0.1:6379/3
  ttl_s: 60
batching:
  max_batch: 16
auth:
  api_keys:
    k-read: read
    k-admin: {scope: admin, name: ops, rate_per_s: 50}
rate_limit:
  rate_per_s: 5
cors:
  allow_origins: ["https://app.example"]
"""


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for var in ("SIEVE_CONFIG_FILE", "SIEVE_PORT", "SIEVE_CACHE__TTL_S", "SIEVE_AUTH__API_KEYS"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    s = Settings()
    assert s.cache.enabled and s.cache.url is None  # the in-process LRU
    assert s.batching.enabled and s.batching.max_batch == 32 and s.batching.max_wait_ms == 2.0
    assert s.auth.api_keys == {} and s.rate_limit.rate_per_s is None and s.cors.allow_origins == ()
    assert s.deadline_ms == 3000 and not s.tracing.enabled and s.log_format == "json"


def test_yaml_file_with_environment_on_top(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "sieve.yaml").write_text(YAML)
    clean_env.setenv("SIEVE_CONFIG_FILE", str(tmp_path / "sieve.yaml"))
    clean_env.setenv("SIEVE_CACHE__TTL_S", "30")
    s = Settings()
    assert s.port == 9001 and s.deadline_ms == 1500 and s.batching.max_batch == 16
    assert s.cache.url == "redis://127.0.0.1:6379/3" and s.cache.ttl_s == 30  # env beats the file, field by field
    assert s.auth.api_keys["k-read"].scope == "read"
    assert s.auth.api_keys["k-admin"].model_dump() == {"scope": "admin", "rate_per_s": 50, "name": "ops"}
    assert s.rate_limit.rate_per_s == 5 and s.cors.allow_origins == ("https://app.example",)
    assert Settings(port=1).port == 1  # arguments beat both


def test_keys_as_json_in_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SIEVE_AUTH__API_KEYS", '{"k1": "admin", "k2": {"rate_per_s": 2}}')
    keys = Settings().auth.api_keys
    assert keys["k1"].scope == "admin" and keys["k2"].scope == "read" and keys["k2"].rate_per_s == 2


@pytest.mark.parametrize(
    "bad",
    ["cache:\n  ttl_s: 0\n", "auth:\n  api_keys:\n    k: root\n", "batching:\n  max_batch: 0\n", "cache:\n  urll: x\n"],
)
def test_bad_yaml_values_are_refused(clean_env: pytest.MonkeyPatch, tmp_path: Path, bad: str) -> None:
    (tmp_path / "bad.yaml").write_text(bad)
    clean_env.setenv("SIEVE_CONFIG_FILE", str(tmp_path / "bad.yaml"))
    with pytest.raises(ValidationError):
        Settings()


def test_a_missing_config_file_is_an_error(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("SIEVE_CONFIG_FILE", str(tmp_path / "nope.yaml"))
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        Settings()


def _variables(model: type[BaseModel], prefix: str) -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        kind = field.annotation
        if name == "pipeline":
            out.append(f"{prefix}PIPELINE__")  # documented as one row: any PipelineSpec field
        elif isinstance(kind, type) and issubclass(kind, BaseModel):
            out += _variables(kind, f"{prefix}{name.upper()}__")
        else:
            out.append(f"{prefix}{name.upper()}")
    return out


def _documented(variable: str, text: str) -> bool:
    """Named in full, or as ``__FIELD`` on a row that names its group (``SIEVE_RERANK__A`` / ``__B``)."""
    if re.search(rf"\b{variable}" + ("" if variable.endswith("__") else "(?![A-Z_])"), text):
        return True
    group, _, field = variable.rpartition("__")
    return bool(group) and any(f"{group}__" in line and f"`__{field}`" in line for line in text.splitlines())


def test_readme_documents_every_setting() -> None:
    text = README.read_text()
    missing = [v for v in _variables(Settings, "SIEVE_") if not _documented(v, text)]
    assert not missing, f"README's Settings table lacks {missing}"


def test_reranker_specs_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    """Any reranker kind can be served or set as the search default; a spec without ``kind`` is a cross-encoder."""
    from rankers.specs import CrossEncoderSpec, ListwiseSpec, PairwiseSpec

    clean_env.setenv("SIEVE_RERANK__SEARCH", '{"kind": "listwise", "window": 10, "llm": {"backend": "openai", '
                                             '"base_url": "http://127.0.0.1:8080/v1", "model": "m"}}')
    clean_env.setenv("SIEVE_RERANK__RANKERS", '{"ce": {"model": "models/x", "backend": "onnx", "quantize": "int8"}, '
                                              '"pw": {"kind": "pairwise", "strategy": "allpairs"}}')
    settings = Settings()
    assert isinstance(settings.rerank.search, ListwiseSpec) and settings.rerank.search.window == 10
    assert settings.rerank.search.llm.base_url == "http://127.0.0.1:8080/v1"
    ce, pw = settings.rerank.rankers["ce"], settings.rerank.rankers["pw"]
    assert isinstance(ce, CrossEncoderSpec) and ce.quantize == "int8"
    assert isinstance(pw, PairwiseSpec) and pw.strategy == "allpairs"
    clean_env.setenv("SIEVE_RERANK__SEARCH", '{"kind": "pointwise-llm"}')
    with pytest.raises(ValidationError, match="'cross-encoder', 'listwise', 'pairwise'"):
        Settings()


COMPOSE = README.parent / "docker-compose.yml"


def _compose_env(service: str, host_env: dict[str, str]) -> dict[str, str]:
    """A compose service's environment with ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` interpolated the
    way compose does (from ``host_env``); a missing required variable raises ``KeyError``."""
    import yaml

    def interpolate(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            name, op, rest = match.group(1), match.group(2) or "", match.group(3) or ""
            if name in host_env and (host_env[name] or op not in (":-", ":?")):
                return host_env[name]
            if op.endswith("?"):
                raise KeyError(f"{name}: {rest}")
            return rest

        return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?([^}]*)\}", one, text).replace("$$", "$")

    env = yaml.safe_load(COMPOSE.read_text())["services"][service]["environment"]
    return {k: interpolate(str(v)) for k, v in env.items()}


@pytest.mark.parametrize("service", ["api", "api-gpu", "indexer"])
def test_compose_sets_only_known_settings_and_wires_redis_and_a_key(clean_env: pytest.MonkeyPatch,
                                                                     service: str) -> None:
    """Every ``SIEVE_*`` variable docker-compose.yml sets is a real setting; the api gets Redis and an admin key."""
    env = _compose_env(service, {"SIEVE_ADMIN_KEY": "k-compose"})
    unknown = [v for v in env if v.startswith("SIEVE_") and not is_setting_variable(v)]
    assert not unknown, f"docker-compose.yml sets {unknown}, which no setting reads"
    assert not is_setting_variable("SIEVE_REDIS_URL")  # the old, silently ignored name
    for name, value in env.items():
        clean_env.setenv(name, value)
    settings = Settings()
    assert str(settings.index_root) == "/data/indexes"
    if service.startswith("api"):
        assert settings.cache.url == "redis://redis:6379/0"
        assert settings.auth.api_keys["k-compose"].scope == "admin"
        settings.model_copy(update={"host": "0.0.0.0"}).check_exposure()  # keys set: not refused
        with pytest.raises(KeyError, match="SIEVE_ADMIN_KEY"):
            _compose_env(service, {})  # no key, no stack


def test_refuses_to_serve_the_network_with_auth_off(clean_env: pytest.MonkeyPatch) -> None:
    """0.0.0.0 with no API keys: create_app refuses, naming the ways out; loopback, keys or the explicit opt-in pass."""
    from service.config import InsecureSettings
    from service.main import create_app

    with pytest.raises(InsecureSettings, match="SIEVE_ALLOW_INSECURE"):
        create_app(Settings(host="0.0.0.0"))
    clean_env.setenv("SIEVE_HOST", "::")
    with pytest.raises(InsecureSettings, match="SIEVE_AUTH__API_KEYS"):
        create_app(Settings())
    clean_env.setenv("SIEVE_ALLOW_INSECURE", "1")
    assert Settings().allow_insecure
    create_app(Settings())
    create_app(Settings(host="0.0.0.0", allow_insecure=False, auth={"api_keys": {"k": "admin"}}))
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        create_app(Settings(host=host, allow_insecure=False))
