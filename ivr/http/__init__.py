"""The HTTP surface's building blocks, below ``ivr.web`` and the features: route declarations
(path, roles, scope, request and response schemas in one place), the registry that turns them
into aiohttp routes, the authorisation table and the OpenAPI document, and the typed app keys.

Features import this package to declare their routes; they never import ``ivr.web``.
"""

from ivr.http.keys import CONFIG, DB, ON_CHANGE, ON_DIRECTORY_CHANGE, ROUTES, OnChange, OnDirectoryChange
from ivr.http.routes import IDENTITY, Route, RouteRegistry, Routes, Scope, identity_of, require_identity

__all__ = ["CONFIG", "DB", "IDENTITY", "ON_CHANGE", "ON_DIRECTORY_CHANGE", "ROUTES", "OnChange",
           "OnDirectoryChange", "Route", "RouteRegistry", "Routes", "Scope", "identity_of",
           "require_identity"]
