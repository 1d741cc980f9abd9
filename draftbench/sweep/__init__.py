"""Running a sweep: the plan of cells (``plan``), server sessions shared between cells (``sessions``), the run
loop (``runner``), the adaptive search's race (``adaptive``) and its stopping rule (``stopping``), the time
estimate (``eta``), the results file's lock (``lock``), progress lines (``console``) and the dry run
(``dryrun``).
"""
