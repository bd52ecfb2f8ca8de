"""A dense search's options: the one definition of each (type, bounds, description). ``PipelineSpec`` and the
``/v1/search`` request take their dense fields from here; ``DenseIndex.search`` reads them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from indexers.matryoshka.spec import FunnelOptions


class DenseSearchOptions(BaseModel):
    """How one dense search runs; a field left None takes the index's built setting.

    ``funnel`` wins over ``dimensions``; both need the index's Matryoshka structure. ``ef_search`` applies to a
    full-dimension HNSW search. ``layers``: the query vectors come from the encoder's first ``layers`` layers; the
    index maps them with its compatibility map for that depth (``indexers/dense/early_exit.py``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ef_search: int | None = Field(None, ge=1, le=4096, description="HNSW: candidates visited per query (at least "
                                                                   "k) [the index's built setting]")
    dimensions: int | None = Field(None, ge=8, le=8192, description="Matryoshka: search at this prefix dimension")
    funnel: FunnelOptions | None = Field(None, description="Matryoshka: shortlist low-dim, rescore at full dim")
    layers: int | None = Field(None, ge=1, le=48, description="early exit: encode the query with the encoder's "
                                                              "first L transformer layers, mapped into the index's "
                                                              "space [the index's default, else full depth]")
