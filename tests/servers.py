"""Real uvicorn servers on free loopback ports, for tests that need real sockets (clients, browsers)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from starlette.types import ASGIApp


@contextmanager
def serve_in_thread(app: ASGIApp, *, startup_timeout: float = 120) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread; yields its base URL and stops it on exit."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


REPO = Path(__file__).resolve().parents[1]


def start_sieve_serve(index_root: Path, log: Path, env: Mapping[str, str], *,
                      timeout: float) -> tuple[subprocess.Popen[bytes], str]:
    """``sieve serve`` over ``index_root`` in a process of its own (offline, its stderr appended to ``log``, the
    settings ``env`` on top of this process's environment less ``SIEVE_FAULT_AT``); returns it and its URL once
    ``/readyz`` answers 200. Fails the test if it exits or is not ready within ``timeout`` seconds."""
    port = free_port()
    full = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **env}
    full.pop("SIEVE_FAULT_AT", None)
    proc = subprocess.Popen([sys.executable, "-m", "sieve", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--index-root", str(index_root)], cwd=REPO, env=full, stdout=subprocess.DEVNULL,
                            stderr=open(log, "a"))  # noqa: SIM115
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"sieve serve exited: {log.read_text()[-3000:]}"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"sieve serve did not get ready within {timeout:.0f} s")


@contextmanager
def llama_cpp_server(model_file: str, *, alias: str = "smollm2", ctx: int = 4096,
                     startup_timeout: float = 120) -> Iterator[str]:
    """llama.cpp's own OpenAI-compatible server (``python -m llama_cpp.server``) in a child process, serving a GGUF
    model on a free loopback port; yields its ``/v1`` base URL."""
    import subprocess
    import sys

    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", model_file, "--model_alias", alias,
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(ctx), "--n_threads", "2", "--verbose", "False"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + startup_timeout
    try:
        while True:
            assert proc.poll() is None, f"llama.cpp server exited: {proc.stderr.read().decode()[-2000:]}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "llama.cpp server did not start"
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def silent_server(held: list[socket.socket] | None = None) -> Iterator[str]:
    """A loopback socket that accepts connections and never answers: a hung upstream (``http://.../v1``). Each
    accepted connection is kept open in ``held`` (pass a list to count them)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held = [] if held is None else held
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)  # keep it open, say nothing
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()
