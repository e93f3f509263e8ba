-- The months in which a pupil was a thuiszitter on at least one school day (a spell that
-- runs through the summer holiday does not make August a thuiszitter month), and whether
-- a spell started in that month.
select
    spells.pupil_pseudonym,
    {{ month_start('days.school_date') }} as month,
    max(case when {{ month_start('spells.spell_start') }} = {{ month_start('days.school_date') }} then 1 else 0 end) = 1 as spell_started,
    count(*) as thuiszitter_school_days
from {{ ref('int_thuiszitter_spells') }} as spells
inner join {{ ref('int_school_days') }} as days
    on days.school_date >= spells.spell_start and days.school_date <= spells.spell_end
group by spells.pupil_pseudonym, {{ month_start('days.school_date') }}
