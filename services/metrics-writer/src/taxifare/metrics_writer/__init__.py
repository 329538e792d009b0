"""The write-metrics step: a training run's metrics into the database, its model as a candidate."""
