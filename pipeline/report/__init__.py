"""Turning results into the report: Jinja templates -> report.qmd -> HTML and PDF.

``python -m pipeline build --profile default`` runs what is missing, renders
``templates/report.qmd.j2`` to ``report/report.qmd`` and renders that with Quarto
when it is installed, else with pandoc (HTML) and Typst (PDF).
"""
