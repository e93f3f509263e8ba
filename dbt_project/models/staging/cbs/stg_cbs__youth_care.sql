-- CBS StatLine youth care per municipality and year (young people with youth care).
with source_rows as (
    {{ current_rows('cbs_youth_care') }}
)

select
    municipality_code,
    year,
    young_people_with_youth_care,
    percentage_with_youth_care
from source_rows
