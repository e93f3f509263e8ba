{{ config(severity='warn', tags=['plausibility'], meta={'dagster': {'ref': {'name': 'fct_school_month'}}}) }}
-- Plausibility: a sudden gap. A school with pupils enrolled but not a single absence
-- record in a month in which most schools recorded absence has most likely a missing
-- month in its absence export (closures and holidays affect all schools alike).
with school_months as (
    select school_id, month, pupil_months,
           case when authorised_absence_hours + unauthorised_absence_hours > 0 then 1 else 0 end as has_absence
    from {{ ref('fct_school_month') }}
),

months as (
    select month, avg(1.0 * has_absence) as share_with_absence
    from school_months
    group by month
)

select school_months.school_id, school_months.month, school_months.pupil_months, months.share_with_absence,
       'no absence recorded while other schools recorded absence: a month missing from the export?' as problem
from school_months
inner join months on months.month = school_months.month
where school_months.has_absence = 0
  and school_months.pupil_months >= {{ var('plausible_min_pupils') }}
  and months.share_with_absence >= 0.5
