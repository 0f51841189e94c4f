"""Human perceptual studies as the seeds' papers ran them, from the samples a run saved.

``make`` builds a self-contained study folder (the page, the images, ``trials.json`` and
``trials.csv``) from ``RESULTS/samples/``; ``serve`` runs it on the standard library's HTTP
server and appends each answer to ``answers.jsonl``; ``analyze`` turns the answers into records
the leaderboard shows. ``order`` is the one per-participant randomisation, written twice: here
in Python and in the page's JavaScript. The designs and their sources: docs/protocols.md,
"Human perceptual studies".
"""
