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
left join {{ ref('int_pilot_schools') }} as pilots
    on pilots.school_id = exits.school_id
    and {{ in_pilot_period('exits.exit_month', 'pilots') }}
