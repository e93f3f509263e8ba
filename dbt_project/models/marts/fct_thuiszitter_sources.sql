-- Thuiszitter spells by source per school and month of the spell's start: found in the
-- school absence records, registered in the leerplicht register, or both. Disagreement
-- between the two is a data-quality signal (see fct_thuiszitter_sources_municipality_year),
-- not an error. Register spells without a school (absoluut verzuim) are only in the
-- municipality-year table.
select
    school_id,
    spell_start_month as month,
    cast(count(*) filter (where source_status in ('both', 'school_only')) as integer) as spells_school,
    cast(count(*) filter (where source_status in ('both', 'register_only')) as integer) as spells_register,
    cast(count(*) filter (where source_status = 'both') as integer) as spells_both,
    cast(count(*) filter (where source_status = 'school_only') as integer) as spells_school_only,
    cast(count(*) filter (where source_status = 'register_only') as integer) as spells_register_only
from {{ ref('int_thuiszitter_sources_matched') }}
where school_id is not null
group by school_id, spell_start_month
