"""Metadata filters: the grammar (``grammar.py``) and its evaluation to the allowed documents (``table.py``)."""

from indexers.filters.grammar import MAX_DEPTH, MAX_NODES, MAX_VALUES, Filter
from indexers.filters.table import AllowedDocs, MetadataTable, RowMap

__all__ = ["MAX_DEPTH", "MAX_NODES", "MAX_VALUES", "AllowedDocs", "Filter", "MetadataTable", "RowMap"]
