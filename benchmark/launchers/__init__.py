"""Launchers: the grid's cells run elsewhere than in this process, into the same results folder.

``run_all.py --launcher local`` runs each cell as a process of its own, ``--jobs N`` at a time,
each pinned to one GPU (``local``); ``--launcher submitit`` submits each cell as one job of a
Slurm job array (``cluster``). A cell's job runs exactly what an inline run runs for it
(``common.run_one``: ``runner.run`` on a one-cell config), so records, claims (per-cell OS
locks), resume from training checkpoints and failure records are the runner's own; the results
folder is the only coordination. What a launcher adds: a launch manifest per launch and the
failed record of a cell whose job died before recording it (``manifest``, read by
``python -m benchmark status`` without torch). This package's ``__init__`` imports nothing, so
that reader stays light; ``grid.launch`` is the entry. See docs/cluster.md.
"""
