-- DUO school registry: one row per school site (BRIN + vestiging).
with source_rows as (
    {{ current_rows('duo_schools') }}
)

select
    school_id,
    brin,
    vestiging,
    school_name,
    municipality_code,
    municipality_name,
    province as province_name,
    school_type,
    cluster
from source_rows
