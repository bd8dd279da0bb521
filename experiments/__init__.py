"""Experiments: each module runs one question's work and writes results/<profile>/<name>/.

Run one with ``python -m experiments.<name> --profile quick|default|homework``.
"""
