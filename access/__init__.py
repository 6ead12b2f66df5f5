"""Who may call: operators' and tenants' API keys, the signing keys of device tokens."""
