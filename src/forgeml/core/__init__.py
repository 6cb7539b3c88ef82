"""Core platform: metadata and artifact stores, jobs, execution backends, lineage and events."""
