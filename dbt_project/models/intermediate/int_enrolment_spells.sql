-- One row per enrolment spell (pupil, school, start). An enrolment is listed in the export
-- of every school year it overlaps; the exit date and destination come from whichever
-- export reports the exit, pupil characteristics from the newest export.
with ranked as (
    select
        *,
        row_number() over (
            partition by pupil_pseudonym, school_id, enrol_start
            order by delivered_on desc, delivery_id desc, row_locator
        ) as newest_first,
        row_number() over (
            partition by pupil_pseudonym, school_id, enrol_start
            order by case when enrol_end is null then 1 else 0 end, delivered_on desc, delivery_id desc, row_locator
        ) as exit_first
    from {{ ref('stg_school__enrolments') }}
),

newest as (
    select pupil_pseudonym, school_id, enrol_start, identifier_kind, birth_month, sex, postcode4, school_group, enrolment_kind
    from ranked where newest_first = 1
),

exits as (
    select pupil_pseudonym, school_id, enrol_start, enrol_end, destination
    from ranked where exit_first = 1
)

select
    newest.pupil_pseudonym,
    newest.school_id,
    newest.enrol_start,
    exits.enrol_end,
    exits.destination,
    newest.identifier_kind,
    newest.birth_month,
    newest.sex,
    newest.postcode4,
    newest.school_group,
    newest.enrolment_kind
from newest
inner join exits using (pupil_pseudonym, school_id, enrol_start)
