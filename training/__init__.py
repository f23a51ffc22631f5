"""Training: point-in-time snapshots and labels, time splits, fitting, calibration, evaluation against
baselines, MLflow tracking and promotion. Depends on `features`; nothing depends on it."""
