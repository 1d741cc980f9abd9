"""What the user asks for, as frozen values: a speculation setup and its axes (``speculation``), the sweep's
settings and a server's options (``settings``), the prompts (``prompts``, ``prompt_files``) and the whole sweep
config read from JSON (``config``). Nothing here starts a process or talks to a server.
"""
