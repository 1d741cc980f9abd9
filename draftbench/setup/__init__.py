"""What the user asks for, as frozen values: a speculation setup and its axes (``speculation``), the sweep's
settings and a server's options (``settings``), the prompts (``prompts``, ``prompt_files``) and the whole sweep
config read from JSON (``config``); the backends as values (``backend``), levels (``levels``), context depth's
text (``context``), values that do not go together (``consistency``), a setup's memory from the headers
(``footprint``) and which weights llama.cpp repacks on this CPU (``repacking``). Nothing here starts a process or
talks to a server.
"""
