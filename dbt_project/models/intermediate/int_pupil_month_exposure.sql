-- Pilot exposure per pupil-month, from the pilot registry: the pilot of the pupil's school
-- (the one whose period holds the month, otherwise the school's latest pilot, so event
-- time is defined before and after the pilot), whether the month is treated (inside the
-- pilot period: macro in_pilot_period) and months since the pilot's first treated month
-- (event time; negative before the start).
with school_pilots as (
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
        from (select distinct school_id, month from {{ ref('int_pupil_months') }}) as school_months
        inner join {{ ref('int_pilot_schools') }} as pilots on pilots.school_id = school_months.school_id
    ) as ranked
    where pilot_rank = 1
)

select
    panel.pupil_pseudonym,
    panel.month,
    panel.school_id,
    school_pilots.pilot_id,
    school_pilots.pilot_id is not null as is_pilot_school,
    coalesce({{ in_pilot_period('panel.month', 'school_pilots') }}, false) as is_treated,
    {{ pilot_event_time('panel.month', 'school_pilots') }} as months_since_pilot_start
from {{ ref('int_pupil_months') }} as panel
left join school_pilots on school_pilots.school_id = panel.school_id and school_pilots.month = panel.month
