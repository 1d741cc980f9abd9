"""Showing results: the HTML report of one sweep (``sweep_page``) built from shared page pieces (``page``) and its
views of the cost model, concurrency levels and adaptive search (``costmodel_view``, ``levels_view``,
``search_view``), its first screen, the answer (``answer_view``), and its views of context depth, a fleet, draft
lengths, the machine during the sweep, memory and output checks (``depth_view``, ``fleet_view``, ``lengths_view``,
``machine_view``, ``memory_view``, ``outputs_view``), a conversation workload's turns (``turns_view``), request
rates and goodput (``traffic_view``), the comparison page across files (``compare_page``) and the Markdown and CSV
exports (``export``).
"""
