"""What measurements mean: the results file and its run records (``schema``), speedups against the baseline,
paired comparisons and the recommendation (``analysis``, ``comparison``), results per kind of prompt
(``categories``), the cost model (``costmodel``) and the comparison of results files across machines
(``compare``). Pure functions of saved runs: nothing here measures.
"""
