-- Referrals to special education: a pupil's main enrolment at a regular school (BAO, VO,
-- PRO; seed school_types) ends and the pupil moves to special education (SBO, SO, VSO).
-- Evidence, either or both: the same pseudonymised pupil's next main enrolment at a
-- special school starts within {{ var('special_education_referral_days') }} days after the
-- exit, or the exit destination names a special type. One row per such exit, counted in
-- the exit month at the sending school. DUO's public data cannot check this per pupil
-- (it publishes counts per school, not moves between schools).
with regular_exits as (
    select exits.*
    from {{ ref('int_school_exits') }} as exits
    inner join {{ ref('int_school_kinds') }} as school_kinds on school_kinds.school_id = exits.school_id and not school_kinds.is_special_education
),

arrivals as (
    select
        regular_exits.pupil_pseudonym,
        regular_exits.school_id,
        regular_exits.enrol_start,
        min(later.enrol_start) as special_enrol_start,
        {{ arg_min('later.school_id', 'later.enrol_start') }} as receiving_school_id
    from regular_exits
    inner join {{ ref('int_enrolment_spells') }} as later
        on later.pupil_pseudonym = regular_exits.pupil_pseudonym
        and coalesce(later.enrolment_kind, 'main') <> 'secondary'
        and later.enrol_start > regular_exits.enrol_start
        and later.enrol_start <= {{ add_days('regular_exits.enrol_end', var('special_education_referral_days')) }}
    inner join {{ ref('int_school_kinds') }} as school_kinds on school_kinds.school_id = later.school_id and school_kinds.is_special_education
    group by regular_exits.pupil_pseudonym, regular_exits.school_id, regular_exits.enrol_start
)

select
    regular_exits.pupil_pseudonym,
    regular_exits.school_id,
    regular_exits.enrol_start,
    regular_exits.enrol_end,
    regular_exits.exit_month,
    regular_exits.destination,
    arrivals.receiving_school_id,
    arrivals.special_enrol_start,
    arrivals.pupil_pseudonym is not null as has_special_enrolment,
    coalesce(destination_types.is_special_education, false) as destination_is_special
from regular_exits
left join arrivals using (pupil_pseudonym, school_id, enrol_start)
left join {{ ref('school_types') }} as destination_types on destination_types.code = regular_exits.destination
where arrivals.pupil_pseudonym is not null or coalesce(destination_types.is_special_education, false)
