-- Thuiszitter spells by source per municipality and school year of the spell's start,
-- with the share both sources agree on. A spell both know, or only the register knows,
-- counts at the register's municipality (where the pupil lives); a spell only the school
-- records show counts at the school's municipality.
with counts as (
    select
        municipality_code,
        school_year,
        cast(count(*) filter (where source_status in ('both', 'school_only')) as integer) as spells_school,
        cast(count(*) filter (where source_status in ('both', 'register_only')) as integer) as spells_register,
        cast(count(*) filter (where source_status = 'both') as integer) as spells_both,
        cast(count(*) filter (where source_status = 'school_only') as integer) as spells_school_only,
        cast(count(*) filter (where source_status = 'register_only') as integer) as spells_register_only,
        cast(count(*) as integer) as spells_either
    from {{ ref('int_thuiszitter_sources_matched') }}
    group by municipality_code, school_year
),

with_register as (
    select
        counts.*,
        cast(spells_both as {{ type_double() }}) / spells_either as agreement_share,
        exists (
            select 1 from {{ ref('stg_leerplicht__registrations') }} as registrations
            where registrations.municipality_code = counts.municipality_code
        ) as has_register
    from counts
)

select
    with_register.*,
    has_register
        and spells_either >= {{ var('thuiszitter_agreement_min_spells') }}
        and agreement_share < {{ var('thuiszitter_agreement_min_share') }} as is_disagreement
from with_register
