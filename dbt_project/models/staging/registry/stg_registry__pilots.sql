-- The pilot registry (pilots/*.yml), one row per pilot.
select
    pilot_id,
    pilot_name,
    municipality_code,
    municipality_name,
    region,
    cast(start_date as date) as start_date,
    cast(planned_end_date as date) as planned_end_date,
    primary_outcome,
    alpha,
    multiple_testing,
    exclude_pilot_schools_from_comparison,
    configuration
from {{ source('raw', 'pilots') }}
