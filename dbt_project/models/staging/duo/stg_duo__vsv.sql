-- DUO early school leavers per convenantjaar (1 October to 1 October), per school site
-- (level school) or per municipality of residence (level municipality).
with source_rows as (
    {{ current_rows('duo_vsv') }}
)

select
    level,
    school_id,
    municipality_code,
    municipality_name,
    cast(convenant_year as integer) as convenant_year,
    make_date(cast(convenant_year as integer), 10, 1) as convenant_year_start,
    school_type,
    cast(participants as integer) as participants,
    cast(early_leavers as integer) as early_leavers
from source_rows
