"""ai-xai: xAI's Grok models for ai-core.

Install ``ai-core`` and ``ai-xai``, set ``AI_XAI_API_KEY`` (or ``XAI_API_KEY``)
and use models as ``"xai/grok-4.3"``. xAI speaks the OpenAI Chat Completions
dialect (:mod:`ai_core.dialects.openai_chat`); this package adds only xAI's
profile of quirks, base URL, key variables, models and prices.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
