"""Decides whether the live model has become obsolete and needs retraining, and says why."""
