"""The machinery around the homework: run the experiments, keep their results, build the report.

* ``stages``      -- the experiments in report order (one table, ordinary imports)
* ``profiles``    -- each experiment's settings per profile (quick, default, homework)
* ``runner``      -- the command line every experiment shares; atomic results with provenance
* ``fingerprint`` -- what results depend on, and whether they are still fresh
* ``executors``   -- running several experiments: in turn, in parallel, as Slurm jobs
* ``findings``    -- the claims the report makes, decided in Python from the results
* ``report``      -- results -> templates -> report.qmd -> HTML and PDF

``python -m pipeline --help`` lists the commands.  The homework library (``hw2``)
never imports this package.
"""
