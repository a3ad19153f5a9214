"""What every emulated service shares: the HTTP layer (``app``, ``parsing``, ``replies``, ``transport``,
``history``), signatures and accounts (``auth``), injected faults (``faults``), request bounds (``limits``),
the API error (``errors``), parameter types (``params``), time formats (``timefmt``) and small helpers for
state files and console pages. Nothing here knows a service: ``tia/`` and ``tione/`` build on it, never the
other way round.
"""
