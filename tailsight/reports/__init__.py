"""The weekly SLO report (CONTRACT §8): built from the store, rendered to HTML and PDF, kept,
served and mailed by ``tailsight up``.

Modules, in the order data flows: ``week`` (ISO weeks in a time zone), ``slos`` (the SLOs
of ``slo_dir``), ``build`` and ``gpus`` (figures from storage queries), ``budget`` (pure
error-budget arithmetic), ``charts`` and ``render`` (PNG charts, HTML, PDF), ``archive``
(files under ``<data_dir>/reports/``), ``mail``, ``job`` (the scheduled job) and
``component`` (its place in ``tailsight up``).
"""
