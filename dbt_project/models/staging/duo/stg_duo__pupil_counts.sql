-- DUO published pupil counts per school site, count date and age. Counts below five are
-- published as "<5": pupils is then null and is_below_five true.
with source_rows as (
    {{ current_rows('duo_pupil_counts') }}
)

select
    school_id,
    cast(count_date as date) as count_date,
    age,
    pupils,
    pupils_below_five as is_below_five
from source_rows
