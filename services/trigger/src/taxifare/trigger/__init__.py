"""Starts taxifare pipeline runs and records them in the pipeline-runs table."""
