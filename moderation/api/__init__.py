"""HTTP edge: parse, authorize, call the domain, return schemas."""
