"""What measurements mean. The run records (``schema``) and their files (``jsonfile``); one evaluation of a file's runs
(``evaluate``) built from which runs belong together (``grouping``), paired comparisons (``comparison``), baseline
drift (``drift``), results per kind of prompt (``categories``), the cost model (``costmodel``, wired to runs in
``explain``), the recommendation and its prose (``recommend``) and the adaptive search's savings (``savings``);
crossovers in context depth (``depth``), draft-length curves (``lengths``), the distribution check
(``distribution``), a conversation workload's turns (``conversations``), goodput at request rates (``traffic``), a
fleet's merged shards (``fleet``), the model search's predictions (``predict``) and serving schedules
(``schedules``); and the comparison of results files across machines (``compare``). Pure functions of saved runs:
nothing here measures.
"""
