"""The async HTTP service: routes -> pipeline -> retrievers/rankers -> indexes. The only async package."""
