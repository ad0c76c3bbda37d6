"""ai-ollama: the Ollama driver (NDJSON streaming) for ai-core."""
