"""Data only: default settings, rule-pack defaults, dashboards and service configs.

This folder is a package solely so that its files ship inside the installed
distribution and are found with :mod:`importlib.resources`.
"""
