"""``python -m draftbench.synth --out DIR --size test|demo``: write the synthetic model family."""

from .model_family import main

raise SystemExit(main())
