"""Measuring a running server: one streamed completion and its timings (``stream``), what answers at a URL
(``discover``), the closed loop that keeps N requests in flight (``loop``), a benchmark of many requests and its
summary (``bench``) and the cost-model probes: verification cost and drafting time from the server's log
(``probes``); the server-sent events as read (``sse``), token counts where a stream has none (``tokens``), what the
server's counts say of requests at a context depth (``depth_checks``), the samples of the distribution check
(``distribution``), whether per-request draft settings are honoured (``per_request``) and a server's memory from its
log (``memory``); conversations replayed turn by turn with the prompt cache on (``replay``); acceptance per server
slot (``slots``).
"""
