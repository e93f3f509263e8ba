{{ config(severity='warn', tags=['plausibility'], meta={'dagster': {'ref': {'name': 'fct_care_trajectories'}}}) }}
-- Plausibility: the net declared cost of a trajectory per month in care is not negative
-- (more credited than declared) and not above {{ var('plausible_max_cost_per_care_month_eur') }} euros (far above the dearest
-- residential care), which would point at a unit or decimal error in a declaration.
with costs as (
    select municipality_code, allocation_number, sum(net_amount_cents) as net_cents
    from {{ ref('int_declaration_lines_netted') }}
    where allocation_number is not null
    group by municipality_code, allocation_number
)

select
    trajectories.trajectory_id,
    costs.net_cents,
    {{ months_between(month_start('trajectories.care_start'), month_start('coalesce(trajectories.care_end, trajectories.allocation_end)')) }} + 1 as care_months,
    'declared cost per month in care outside plausible bounds' as problem
from {{ ref('fct_care_trajectories') }} as trajectories
inner join costs
    on costs.municipality_code = trajectories.municipality_code and costs.allocation_number = trajectories.allocation_number
where trajectories.care_start is not null
  and (costs.net_cents < 0
       or costs.net_cents / 100.0 / ({{ months_between(month_start('trajectories.care_start'), month_start('coalesce(trajectories.care_end, trajectories.allocation_end)')) }} + 1)
          > {{ var('plausible_max_cost_per_care_month_eur') }})
