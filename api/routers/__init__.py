"""One router per audience: thin handlers that parse, authorise, call a service, shape."""
