"""Running a sweep: the plan of cells (``plan``), server sessions shared between cells (``sessions``), the run loop
(``runner``), the policy that owns the order of measurement (``scheduler``: the exhaustive sweep or a search), the
adaptive search's race (``adaptive``) and its stopping rule (``stopping``), the time estimate (``eta``), the results
file's lock (``lock``), progress lines (``console``) and the dry run (``dryrun``); measuring one cell (``cells``)
from what it learns (``facts``), the cost model's probes (``cost_probes``), baseline checks for drift
(``drift_checks``), the model search (``model_search``), a fleet's shards (``shards``) the results file as the sweep
keeps it (``store``) and a serving schedule checked by running it (``schedule_check``).
"""
