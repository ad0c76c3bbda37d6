"""Entry point of ai-gemini.

Packaging and the entry point exist so the distribution installs and shows in
``ai plugins``; the Gemini driver (generateContent wire format) arrives with its own issue and will register
here through the hooks in :mod:`ai_core.hookspecs`. Until then this plugin
registers nothing, and ``ai plugins`` shows it with no hooks.
"""
