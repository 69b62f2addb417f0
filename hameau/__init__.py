"""hameau: a hamlet of household servers."""

__version__ = "0.1.0"
