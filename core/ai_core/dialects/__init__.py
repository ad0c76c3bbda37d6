"""Wire dialects that several providers share.

A dialect is one wire protocol, written once. A provider that speaks it is a
plugin naming its base URL, key variables, models, prices and a *profile* of
its quirks, not a copy of the protocol code. Today: :mod:`.openai_chat`, the
OpenAI Chat Completions dialect spoken by OpenAI, xAI, Ollama's ``/v1``, vLLM,
LM Studio and most hosted inference services.

:mod:`.catalog` loads the model and price tables such plugins ship as data
(docs/catalogs.md), :mod:`.provider_hooks` turns a package's catalogue into
its three hooks, and :mod:`.config_providers` makes a provider of a config-file
section that names a dialect, with no package at all.
"""
