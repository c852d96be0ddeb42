"""antigravityd: a multi-account gateway from OpenAI/Anthropic/Gemini APIs to Google's Cloud Code backend."""

__version__ = "0.1.0"
