"""Conversation memory: the context-window guard and rolling summaries (docs/memory.md)."""
