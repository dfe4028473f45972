"""The JSON API's routes, one module per resource. Each imports its dependencies from
`relance.api.deps`; `relance.api.app` includes their routers."""
