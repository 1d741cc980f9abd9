"""Measuring a running server: one streamed completion and its timings (``stream``), the closed loop that keeps
N requests in flight (``loop``), a benchmark of many requests and its summary (``bench``), checks that the text
is real (``health``) and the cost-model probes: verification cost and drafting time from the server's log
(``probes``).
"""
