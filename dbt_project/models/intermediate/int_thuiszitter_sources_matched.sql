-- Thuiszitter spells from the two sources side by side: the spells found in the school
-- absence records (int_thuiszitter_spells) and the thuiszitters the leerplicht register
-- holds (int_thuiszitter_register_spells). A pair is the same pupil with overlapping
-- dates (a running registration has no end). Each spell appears once: 'both' (a school
-- spell the register knows; attributed to the register's municipality, where the pupil
-- lives), 'school_only' (attributed to the school's municipality) or 'register_only'.
with school_spells as (
    select spells.*, schools.municipality_code as school_municipality_code
    from {{ ref('int_thuiszitter_spells') }} as spells
    left join {{ ref('stg_duo__schools') }} as schools on schools.school_id = spells.school_id
),

register_spells as (
    select * from {{ ref('int_thuiszitter_register_spells') }}
),

pairs as (
    select
        school_spells.spell_id,
        register_spells.register_spell_id,
        register_spells.municipality_code,
        row_number() over (partition by school_spells.spell_id order by register_spells.start_date, register_spells.register_spell_id) as register_rank
    from school_spells
    inner join register_spells
        on register_spells.pupil_pseudonym = school_spells.pupil_pseudonym
        and register_spells.start_date <= school_spells.spell_end
        and coalesce(register_spells.end_date, date '9999-12-31') >= school_spells.spell_start
),

from_school as (
    select
        school_spells.pupil_pseudonym,
        school_spells.spell_id as school_spell_id,
        pairs.register_spell_id,
        school_spells.school_id,
        coalesce(pairs.municipality_code, school_spells.school_municipality_code) as municipality_code,
        school_spells.spell_start,
        case when pairs.register_spell_id is null then 'school_only' else 'both' end as source_status
    from school_spells
    left join pairs on pairs.spell_id = school_spells.spell_id and pairs.register_rank = 1
),

from_register_only as (
    select
        register_spells.pupil_pseudonym,
        cast(null as {{ dbt.type_string() }}) as school_spell_id,
        register_spells.register_spell_id,
        register_spells.school_id,
        register_spells.municipality_code,
        register_spells.start_date as spell_start,
        'register_only' as source_status
    from register_spells
    where not exists (select 1 from pairs where pairs.register_spell_id = register_spells.register_spell_id)
),

spells as (
    select * from from_school
    union all
    select * from from_register_only
)

select
    spells.*,
    {{ month_start('spells.spell_start') }} as spell_start_month,
    {{ school_year('spells.spell_start') }} as school_year
from spells
