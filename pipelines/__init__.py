"""Dagster project of the Motion-R1 pipeline: one thin asset per artifact, checks beside it.

Definitions are auto-loaded from `pipelines/defs/` by `pipelines.definitions`; the assets only
call stage functions of `motion_r1_core`.
"""
