"""The warehouse: the dbt project's models, seeds and tests as Dagster assets and checks."""
