"""Showing results: the HTML report of one sweep (``sweep_page``) built from shared page pieces (``page``) and its
views of the cost model, concurrency levels and adaptive search (``costmodel_view``, ``levels_view``,
``search_view``), the comparison page across files (``compare_page``) and the Markdown and CSV exports
(``export``).
"""
