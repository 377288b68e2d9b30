"""``devsandbox debug``: a pdb-like terminal debugger that is a DAP client of ``devsandbox dap``.

- ``session.py`` drives the DAP server (launch, stops, stepping, evaluation, breakpoints).
- ``target.py`` turns the command line into a launch configuration; reads source files.
- ``breakpoints.py`` parses breakpoint specs and keeps the breakpoint table.
- ``commands.py`` is the command table: one ``Command`` entry per pdb-style command.
- ``render.py`` formats locations, source windows, stacks and variables, with optional colour.
- ``console.py`` is the interactive loop: prompt, readline history, program output.
"""
