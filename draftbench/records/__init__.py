"""The records measurements are saved as, in one layer below the servers and the measuring: a request (``requests``), a
benchmark's measured fields (``measured``), the cost-model probes' (``probes``), memory (``memory``), the
distribution check's samples (``distribution``), the per-request settings probe (``per_request``), vLLM's engine
figures (``engine``) a conversation workload's turns (``turns``) and a request rate's goodput and latencies
(``traffic``). Frozen dataclasses, no I/O: the results layer reads them without importing anything that measures or
starts a process."""
