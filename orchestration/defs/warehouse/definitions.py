"""The warehouse group: every dbt model and seed as an asset, its `dbt build` job and the
dbt resource."""

import dagster as dg

from orchestration.defs.warehouse.assets import dbt_resource, warehouse_dbt_assets

warehouse_job = dg.define_asset_job(
    "warehouse_build",
    selection=dg.AssetSelection.assets(warehouse_dbt_assets),
    description="`dbt build` of every model and seed with its tests, on the raw layer as it is.",
)

defs = dg.Definitions(
    assets=[warehouse_dbt_assets], jobs=[warehouse_job], resources={"dbt": dbt_resource()}
)
