"""A synthetic model family generated on this machine, so that the demo and the tests download nothing: a target
and drafts of several sizes sharing a tokenizer, plus a draft with another vocabulary (``model_family``), and
the demo that generates it and sweeps it (``demo``); its tokenizer (``vocab``), the family as Hugging Face folders
for vLLM (``hf_family``), and ``__main__`` for ``python -m draftbench.synth``.
"""
