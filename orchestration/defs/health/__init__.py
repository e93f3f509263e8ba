"""Pipeline health: delivery freshness checks on the ingestion assets and the health page."""
