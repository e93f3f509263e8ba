-- One row per exit from a school (enrolment spell with an end date): destination, whether
-- the pupil continued in education, and dropout (schooluitval). Exposure for dropout rates
-- is fct_school_month.pupil_months.
select
    exits.pupil_pseudonym,
    exits.school_id,
    exits.enrol_start,
    exits.enrol_end,
    exits.exit_month,
    exits.destination,
    destinations.description_en as destination_description,
    exits.continues_education,
    exits.has_new_enrolment,
    exits.is_dropout,
    pilots.pilot_id,
    pilots.pilot_id is not null as is_treated
from {{ ref('int_school_exits') }} as exits
left join {{ ref('school_destinations') }} as destinations on destinations.destination = exits.destination
left join (
    select pilot_schools.school_id, pilots.pilot_id, pilots.start_date, pilots.planned_end_date
    from {{ ref('stg_registry__pilot_schools') }} as pilot_schools
    inner join {{ ref('stg_registry__pilots') }} as pilots on pilots.pilot_id = pilot_schools.pilot_id
) as pilots
    on pilots.school_id = exits.school_id
    and {{ in_pilot_period('exits.exit_month', 'pilots') }}
