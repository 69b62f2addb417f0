"""The node's own AI: models run here on the CPU (or on a backend of the household's network),
an OpenAI-compatible API, answers from the member's own documents, every query logged where
the member sees it."""
