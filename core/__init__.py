"""The shared kernel: what several packages use (database base and engine, errors, settings,
scopes, the event seam between geofencing and promotions, devices, tenants, zone facts).

It imports no other mallcast package; every other package may import it
(docs/architecture.md).
"""
