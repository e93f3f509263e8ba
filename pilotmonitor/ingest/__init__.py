"""Ingestion at the edge: read deliveries in their real formats, replace identifiers by
keyed pseudonyms before anything is stored, quarantine bad records with a reason."""
