"""The API's endpoints, one router per scope (each guarded by its ``ApiKeyAuth``)."""
