"""guardgate: protects LLM APIs from distillation farms."""

__version__ = "0.1.0"
