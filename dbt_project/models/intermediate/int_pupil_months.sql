-- Pupil-months: every calendar month inside the panel window in which the pupil was
-- enrolled on at least one day. Each pupil-month has one school: a main enrolment before
-- a secondary one (a pupil in a symbiose arrangement counts at the school of the main
-- enrolment), and when two main enrolments overlap in a month (a transfer), the school
-- enrolled last.
with candidates as (
    select
        spells.pupil_pseudonym,
        months.month,
        spells.school_id,
        spells.enrol_start,
        spells.birth_month,
        spells.sex,
        spells.identifier_kind,
        row_number() over (
            partition by spells.pupil_pseudonym, months.month
            order by case when spells.enrolment_kind = 'secondary' then 1 else 0 end, spells.enrol_start desc, spells.school_id
        ) as school_rank
    from {{ ref('int_enrolment_spells') }} as spells
    cross join {{ ref('int_panel_window') }} as panel_window
    inner join {{ ref('int_calendar_months') }} as months
        on months.month >= {{ month_start('spells.enrol_start') }}
        and (spells.enrol_end is null or months.month <= spells.enrol_end)
        and months.month >= panel_window.first_month
        and months.month <= panel_window.last_month
)

select pupil_pseudonym, month, school_id, birth_month, sex, identifier_kind
from candidates
where school_rank = 1
