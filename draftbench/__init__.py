"""draftbench: find the draft model that makes speculative decoding fastest on your machine."""

__version__ = "0.1.0"
