"""Encrypted provider credentials: where the key comes from, the store, and its audit trail.

Kept import-light: submodules load SQLAlchemy and ``cryptography`` only when used.
"""
