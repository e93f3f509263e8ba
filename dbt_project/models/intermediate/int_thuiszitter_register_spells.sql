-- Thuiszitters registered in the municipal leerplicht register: one row per pupil and
-- start date. A spell that runs over the summer can be in two school years' exports;
-- the newest delivery (with the end date once known) wins.
with registered as (
    select
        *,
        row_number() over (
            partition by pupil_pseudonym, start_date
            order by delivered_on desc, delivery_id desc, row_locator
        ) as newest_first
    from {{ ref('stg_leerplicht__registrations') }}
    where registration = 'thuiszitter'
)

select
    {{ dbt.hash("pupil_pseudonym || '|' || cast(start_date as " ~ dbt.type_string() ~ ")") }} as register_spell_id,
    pupil_pseudonym,
    municipality_code,
    school_id,
    start_date,
    end_date,
    reason
from registered
where newest_first = 1
