{{ config(severity='warn', tags=['plausibility'], meta={'dagster': {'ref': {'name': 'fct_youth_care_costs'}}}) }}
-- Plausibility: a sudden gap in youth-care declarations. A municipality with declared
-- cost in the months before and after, but none in a month between, most likely misses
-- a monthly iJw delivery. Judged only for municipalities declaring at least
-- {{ var('plausible_min_lines_per_month') }} lines a month on average (a small municipality may truly have a quiet month).
with municipality_months as (
    select municipality_code, month, count(*) as lines
    from {{ ref('fct_youth_care_costs') }}
    group by municipality_code, month
),

spans as (
    select municipality_code, min(month) as first_month, max(month) as last_month
    from municipality_months
    group by municipality_code
    having 1.0 * sum(lines) / ({{ months_between('min(month)', 'max(month)') }} + 1) >= {{ var('plausible_min_lines_per_month') }}
)

select spans.municipality_code, months.month,
       'no declared youth-care cost in a month between months with declarations: a monthly delivery missing?' as problem
from spans
inner join {{ ref('int_calendar_months') }} as months
    on months.month > spans.first_month and months.month < spans.last_month
left join municipality_months
    on municipality_months.municipality_code = spans.municipality_code and municipality_months.month = months.month
where municipality_months.month is null
