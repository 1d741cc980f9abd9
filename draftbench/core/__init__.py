"""The ground floor: pieces every other layer may use and that use nothing of draftbench but its errors.

Bounds for numbers (``limits``), safe reading and writing of files (``files``), escaping of text for each kind of
output (``redaction``), the GGUF header reader (``gguf_header``), the machine's identity (``machine``) and the
statistics of paired and unpaired comparisons (``stats``, pure functions tested on hand-computed cases), the test
of two samples of tokens coming from one distribution (``homogeneity``), the load of other processes on the CPUs
and GPU (``load``), frozen records read back from JSON (``records``), the one vocabulary of JSON types
(``jsontypes``) and the checks that a completion is real text (``health``).
"""
