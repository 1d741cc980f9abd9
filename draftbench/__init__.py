"""draftbench: find the draft model that makes speculative decoding fastest on your machine.

Layers, lowest first (tests/test_layers.py holds them): ``errors``; ``core``; ``setup`` and ``synth``; ``records``;
``server``; ``measure``; ``results``; ``sweep`` and ``report``; ``cli``. Each package's docstring names its modules."""

__version__ = "0.1.0"
