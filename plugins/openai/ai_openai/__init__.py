"""ai-openai: OpenAI's Chat Completions API for ai-core.

Install ``ai-core`` and ``ai-openai``, set ``AI_OPENAI_API_KEY`` (or
``OPENAI_API_KEY``) and use models as ``"openai/gpt-4o-mini"``. The wire
protocol lives in :mod:`ai_core.dialects.openai_chat`; this package adds only
OpenAI's profile, base URL, key variables, models and prices.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
