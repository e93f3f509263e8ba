-- Thuiszitter spells (langdurig relatief verzuim): {{ var('thuiszitter_min_school_days') }} or more
-- consecutive school days of full-day unauthorised absence ({{ var('full_day_absence_hours') }}+ hours)
-- while enrolled. Gaps-and-islands over the school-day numbering.
with full_days as (
    select absence.pupil_pseudonym, absence.absence_date, max(absence.school_id) as school_id
    from {{ ref('stg_school__absence') }} as absence
    where not absence.is_authorised
    group by absence.pupil_pseudonym, absence.absence_date
    having sum(absence.hours) >= {{ var('full_day_absence_hours') }}
),

numbered as (
    select
        full_days.*,
        days.school_day_number
            - row_number() over (partition by full_days.pupil_pseudonym order by full_days.absence_date) as island
    from full_days
    inner join {{ ref('int_school_days') }} as days on days.school_date = full_days.absence_date
),

islands as (
    select
        pupil_pseudonym,
        max(school_id) as school_id,
        min(absence_date) as spell_start,
        max(absence_date) as spell_end,
        count(*) as school_days
    from numbered
    group by pupil_pseudonym, island
)

select
    {{ dbt.hash("pupil_pseudonym || '|' || cast(spell_start as " ~ dbt.type_string() ~ ")") }} as spell_id,
    pupil_pseudonym,
    school_id,
    spell_start,
    spell_end,
    school_days
from islands
where school_days >= {{ var('thuiszitter_min_school_days') }}
