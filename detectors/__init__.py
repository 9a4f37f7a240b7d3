"""Detectors: per-entity state and features, anomaly models, score fusion.

Every detector follows River's protocol (``score_one`` before ``learn_one``)
and reads plain feature dicts built by :mod:`detectors.features` from the
Redis state kept by :mod:`detectors.state`.
"""
