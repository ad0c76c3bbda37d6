"""Request security: validation policies, the PII filter and the audit trail.

See docs/security.md. Each part is a middleware layer registered by core's own
plugin and left out of the pipeline unless configured.
"""
