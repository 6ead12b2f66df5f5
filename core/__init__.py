"""What every mallcast package shares: the declarative base and the error hierarchy.

It sits below `geofence`, `promotions` and `push` so that each can import it without
importing a package further up the `api -> geofence -> promotions -> push` chain.
"""
