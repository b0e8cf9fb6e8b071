"""One router per area of the API; `keten.api.app` includes them all."""
