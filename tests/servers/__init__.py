"""Real local servers that speak provider wire formats, for driver and conformance tests.

- :mod:`servers.openai_compat`: OpenAI Chat Completions (and xAI's flavour of it).
- :mod:`servers.fixtures`: pytest fixtures starting them (``openai_server``, ``xai_server``).

Suites import from here (``tests/`` is on ``sys.path`` through its conftest).
"""
