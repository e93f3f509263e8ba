-- One row per absence record (pupil, day, kind) in a current school export.
with source_rows as (
    {{ current_rows('school_absence') }}
)

select
    delivery_id,
    row_locator,
    pupil_pseudonym,
    id_kind as identifier_kind,
    school_id,
    cast(absence_date as date) as absence_date,
    {{ month_start('absence_date') }} as absence_month,
    cast(hours as {{ type_double() }}) as hours,
    authorised as is_authorised,
    reason
from source_rows
