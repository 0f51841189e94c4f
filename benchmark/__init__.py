"""The harness around the methods (``baselines``) and protocols (``protocols``).

Command lines (``cli`` and the ``*_cli`` modules), the grid (``runner``: ``training``,
``sampling``, ``recording``), the metric families (``metrics/``) and feature extractors
(``features``), the speed profile (``profiling``, ``measure``), frozen instruments
(``instruments``, ``classifier``), planning (``plan``), records and their one reader
(``records``, ``values``), the leaderboard (``report/``) and the CI gate (``regress``).
Layers and where to add things: ARCHITECTURE.md.
"""

__version__ = "0.1.0"
