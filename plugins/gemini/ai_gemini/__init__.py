"""ai-gemini: the Gemini driver (generateContent wire format) for ai-core."""
