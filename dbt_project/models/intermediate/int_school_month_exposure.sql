-- Pilot exposure per school and month of the panel (every school-month a pupil-month is
-- at), from the pilot registry: the pilot of the school (the one whose period holds the
-- month, otherwise the school's latest pilot, so event time is defined before and after
-- the pilot), whether the month is treated (inside the pilot period: macro
-- in_pilot_period) and months since the pilot's first treated month (event time;
-- negative before the start). At the school-month grain because exposure is a property
-- of the school: fct_pupil_month joins it on school and month (a pupil-month grain
-- table of the same facts was the largest hash join of the panel build at scale).
with school_months as (
    select distinct school_id, month from {{ ref('int_pupil_months') }}
),

school_pilots as (
    select * from (
        select
            school_months.school_id,
            school_months.month,
            pilots.pilot_id,
            pilots.start_date,
            pilots.planned_end_date,
            row_number() over (
                partition by school_months.school_id, school_months.month
                order by case when {{ in_pilot_period('school_months.month', 'pilots') }} then 0 else 1 end,
                         pilots.start_date desc
            ) as pilot_rank
        from school_months
        inner join {{ ref('int_pilot_schools') }} as pilots on pilots.school_id = school_months.school_id
    ) as ranked
    where pilot_rank = 1
)

select
    school_months.school_id,
    school_months.month,
    school_pilots.pilot_id,
    school_pilots.pilot_id is not null as is_pilot_school,
    coalesce({{ in_pilot_period('school_months.month', 'school_pilots') }}, false) as is_treated,
    {{ pilot_event_time('school_months.month', 'school_pilots') }} as months_since_pilot_start
from school_months
left join school_pilots on school_pilots.school_id = school_months.school_id and school_pilots.month = school_months.month
