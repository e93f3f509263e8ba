-- Exits from a school: main enrolment spells with an end date, the destination, and
-- whether the pupil continued in education (the end of a secondary enrolment, such as a
-- symbiose arrangement, is no exit: the pupil stays at the main school). Dropout (schooluitval) is an exit to no education, or an
-- exit without a known destination and without a new enrolment within
-- {{ var('transfer_grace_days') }} days.
with exits as (
    select * from {{ ref('int_enrolment_spells') }} where enrol_end is not null and coalesce(enrolment_kind, 'main') <> 'secondary'
)

select
    exits.pupil_pseudonym,
    exits.school_id,
    exits.enrol_start,
    exits.enrol_end,
    {{ month_start('exits.enrol_end') }} as exit_month,
    exits.destination,
    destinations.continues_education,
    exists (
        select 1 from {{ ref('int_enrolment_spells') }} as later
        where later.pupil_pseudonym = exits.pupil_pseudonym
          and later.enrol_start > exits.enrol_start
          and later.enrol_start <= {{ add_days('exits.enrol_end', var('transfer_grace_days')) }}
    ) as has_new_enrolment,
    case
        when destinations.continues_education = false then true
        when destinations.continues_education = true then false
        else not exists (
            select 1 from {{ ref('int_enrolment_spells') }} as later
            where later.pupil_pseudonym = exits.pupil_pseudonym
              and later.enrol_start > exits.enrol_start
              and later.enrol_start <= {{ add_days('exits.enrol_end', var('transfer_grace_days')) }}
        )
    end as is_dropout
from exits
left join {{ ref('school_destinations') }} as destinations on destinations.destination = exits.destination
