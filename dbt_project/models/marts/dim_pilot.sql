-- One row per pilot: the registry, its pre-registered plan and its planned and realised costs.
with budget as (
    select pilot_id, {{ sum_euros('planned_total_eur') }} as planned_cost_eur, sum(fte) as planned_fte_years
    from {{ ref('stg_registry__budget') }} group by pilot_id
),

realised as (
    select pilot_id, {{ sum_euros('total_eur') }} as realised_cost_eur from {{ ref('stg_pilot__costs') }} group by pilot_id
),

schools as (
    select pilot_id, count(*) as pilot_school_count from {{ ref('stg_registry__pilot_schools') }} group by pilot_id
),

comparison as (
    select pilot_id, count(*) as comparison_school_count
    from {{ ref('dim_pilot_assignment') }} where role = 'comparison' group by pilot_id
),

secondary as (
    select pilot_id, {{ dbt.listagg('value', "', '", 'order by position') }} as secondary_outcomes
    from {{ ref('stg_registry__analysis_plan') }} where kind = 'secondary_outcome' group by pilot_id
),

estimators as (
    select pilot_id, {{ dbt.listagg('value', "', '", 'order by position') }} as estimators
    from {{ ref('stg_registry__analysis_plan') }} where kind = 'estimator' group by pilot_id
)

select
    pilots.pilot_id,
    pilots.pilot_name,
    pilots.municipality_code,
    pilots.municipality_name,
    pilots.region,
    pilots.start_date,
    pilots.planned_end_date,
    {{ month_start('pilots.start_date') }} as first_treated_month,
    {{ month_start('pilots.planned_end_date') }} as last_pilot_month,
    cast({{ months_between(month_start('pilots.start_date'), month_start('pilots.planned_end_date')) }} + 1 as integer) as planned_pilot_months,
    coalesce(schools.pilot_school_count, 0) as pilot_school_count,
    coalesce(comparison.comparison_school_count, 0) as comparison_school_count,
    pilots.primary_outcome,
    secondary.secondary_outcomes,
    estimators.estimators,
    pilots.alpha,
    pilots.multiple_testing,
    budget.planned_cost_eur,
    budget.planned_fte_years,
    realised.realised_cost_eur,
    pilots.configuration
from {{ ref('stg_registry__pilots') }} as pilots
left join budget on budget.pilot_id = pilots.pilot_id
left join realised on realised.pilot_id = pilots.pilot_id
left join schools on schools.pilot_id = pilots.pilot_id
left join comparison on comparison.pilot_id = pilots.pilot_id
left join secondary on secondary.pilot_id = pilots.pilot_id
left join estimators on estimators.pilot_id = pilots.pilot_id
