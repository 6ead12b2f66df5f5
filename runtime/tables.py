"""All tables of mallcast in one metadata: what Alembic migrates and checks for drift."""

from __future__ import annotations

# Importing the model modules registers their tables on the shared metadata.
import access.models
import core.devices.models
import core.erasures
import core.members.models
import core.tenants.models
import geofence.models
import loyalty.models
import promotions.models
import push.models
from core.db import Base

metadata = Base.metadata

__all__ = ["access", "core", "geofence", "loyalty", "metadata", "promotions", "push"]
