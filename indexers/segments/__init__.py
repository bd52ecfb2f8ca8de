"""Incremental, durable writes: a write-ahead log per collection (``wal.py``), the delta segment over the built
base with tombstones (``delta.py``, searched by ``scoring.py``), the live writer (``live.py``) and the merge that
folds the log into a new base (``merge.py``). Modules are imported directly (no re-exports: ``merge`` builds on
``indexers.updates``, which the collection module sits under)."""
