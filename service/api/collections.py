"""``GET /v1/collections``: what is loaded, with each index's manifest."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import RegistryDep
from service.schemas import CollectionInfo, CollectionsResponse, IndexInfo

router = APIRouter(prefix="/v1", tags=["collections"])


@router.get("/collections", response_model=CollectionsResponse)
async def list_collections(registry: RegistryDep) -> CollectionsResponse:
    out = []
    for name, pipeline in sorted(registry.pipelines.items()):
        col = pipeline.collection
        indexes = [
            IndexInfo(name=n, kind=i.manifest.kind, doc_count=i.manifest.doc_count, model=i.manifest.model,
                      dims=i.manifest.dims, metric=i.manifest.metric, version=i.manifest.version,
                      supported_dims=getattr(i, "supported_dims", None),
                      build=i.manifest.build)
            for n, i in col.indexes.items()
        ]
        out.append(CollectionInfo(name=name, doc_count=col.doc_count, version=col.version, indexes=indexes))
    return CollectionsResponse(collections=out)
