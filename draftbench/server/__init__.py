"""Inference servers as processes: finding llama-server and mapping a setup onto the flags its build accepts
(``llama_bin``), the server as a context manager in its own process group (``process``), vLLM and LM Studio
(``backends``), free ports (``ports``) and the lifeline that stops servers when draftbench dies (``lifeline``).
"""
