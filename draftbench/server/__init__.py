"""Inference servers as processes: a server as a context manager in its own process group (``process``), llama.cpp's
llama-server (``llamacpp``; finding the binary and mapping a setup onto the flags its build accepts: ``llama_bin``),
vLLM (``vllm``, its metrics ``vllm_metrics``) and LM Studio (``lmstudio``), each backend's launcher (``backends``),
free ports (``ports``), a death by a signal named with its fix (``crash``) and the lifeline that stops servers when
draftbench dies (``lifeline``).
"""
