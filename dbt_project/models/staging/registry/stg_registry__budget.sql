-- Planned pilot costs per year from the pilot configuration (euros).
select
    pilot_id,
    cast(year as integer) as year,
    cast(fte as double precision) as fte,
    cast(cost_per_fte_eur as double precision) as cost_per_fte_eur,
    cast(other_costs_eur as double precision) as other_costs_eur,
    cast(fte as double precision) * cast(cost_per_fte_eur as double precision) + cast(other_costs_eur as double precision) as planned_total_eur
from {{ source('raw', 'pilot_budget') }}
