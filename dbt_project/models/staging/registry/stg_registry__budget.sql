-- Planned pilot costs per year from the pilot configuration (euros).
select
    pilot_id,
    cast(year as integer) as year,
    cast(fte as {{ type_double() }}) as fte,
    cast(cost_per_fte_eur as {{ type_double() }}) as cost_per_fte_eur,
    cast(other_costs_eur as {{ type_double() }}) as other_costs_eur,
    cast(fte as {{ type_double() }}) * cast(cost_per_fte_eur as {{ type_double() }}) + cast(other_costs_eur as {{ type_double() }}) as planned_total_eur
from {{ source('raw', 'pilot_budget') }}
