-- Monthly activity registration of the youth support workers per pilot school (the dose).
with source_rows as (
    {{ current_rows('pilot_activity') }}
)

select
    pilot_id,
    {{ month_start('month') }} as month,
    school_id,
    contacts_pupils,
    contacts_parents,
    group_sessions,
    consultations_teachers,
    consultations_providers
from source_rows
