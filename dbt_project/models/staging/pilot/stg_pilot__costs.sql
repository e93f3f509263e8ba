-- Realised pilot costs per pilot and year as delivered by the pilot organisation (euros).
with source_rows as (
    {{ current_rows('pilot_costs') }}
)

select
    pilot_id,
    year,
    fte,
    cost_per_fte_eur,
    other_costs_eur,
    total_eur
from source_rows
