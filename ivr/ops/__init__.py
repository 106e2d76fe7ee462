"""Operating a deployment for years: backup and restore, alerts and metrics, retention."""
