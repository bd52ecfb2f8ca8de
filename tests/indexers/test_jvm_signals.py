"""The JVM keeps its SIGSEGV handler: it faults on purpose (safepoint polls) while Java threads run compiled code, so a
Python ``faulthandler`` installed over it kills the process (``SIG_DFL`` restored under it by ``faulthandler.disable()``
does too, but only when a poll lands in that window: not tested, the suite runs with ``-p no:faulthandler``). Each case
runs in a fresh interpreter with Java work spread over the fork-join pool (the threads Lucene searches on)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

JAVA_WORK = """
from jnius import autoclass
IntStream = autoclass("java.util.stream.IntStream")
Collectors = autoclass("java.util.stream.Collectors")
for _ in range(8):
    n = IntStream.range(0, 2_000_000).parallel().boxed().collect(Collectors.toList()).size()
print("java work done", n, flush=True)
"""


def run(script: str, after: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script) + JAVA_WORK + after], capture_output=True,
                          text=True, timeout=240)


@pytest.mark.parametrize("after_start", [
    "import faulthandler; faulthandler.enable(all_threads=False)",  # what ray.init() does when faulthandler is off
    "",
])
def test_java_work_survives_faulthandler_enabled_after_the_jvm(after_start: str) -> None:
    done = run(f"""
        import faulthandler
        from indexers.lucene.jvm import ensure_jvm
        ensure_jvm()
        assert faulthandler.is_enabled()  # enabled before the VM replaced the handler
        {after_start}
        """)
    assert done.returncode == 0 and "java work done 2000000" in done.stdout, (done.returncode, done.stderr[-2000:])



def test_java_work_survives_ray_in_the_same_process() -> None:
    """``ray.init`` (through ``require_ray``) after the JVM, then Java code that faults on purpose: implicit null
    checks in JIT-compiled ``String.compareTo(null)`` and safepoints during parallel work. Without
    ``RAY_DISABLE_FAILURE_SIGNAL_HANDLER`` Ray's handler turns the first of these into exit 139."""
    done = run("""
        import os
        os.environ.pop("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", None)
        from indexers.lucene.jvm import ensure_jvm
        from indexers.sharding.layout import require_ray
        ensure_jvm()
        ray = require_ray()
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
        from jnius import JavaException, autoclass
        text = autoclass("java.lang.String")("abc")
        for _ in range(30000):
            try:
                text.compareTo(None)
            except JavaException:
                pass
        """, after="ray.shutdown()\n")
    assert done.returncode == 0 and "java work done 2000000" in done.stdout, (done.returncode, done.stderr[-2000:])
