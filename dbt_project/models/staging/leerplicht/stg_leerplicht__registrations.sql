-- One row per registration in a current leerplicht/RMC register export: an absence
-- notification, an exemption, a registered thuiszitter or an early school leaver.
with source_rows as (
    {{ current_rows('leerplicht_register') }}
)

select
    delivery_id,
    row_locator,
    pupil_pseudonym,
    id_kind as identifier_kind,
    municipality_code,
    school_id,
    cast(birth_month as date) as birth_month,
    sex,
    registration,
    kind as registration_kind,
    cast(notification_date as date) as notification_date,
    cast(start_date as date) as start_date,
    cast(end_date as date) as end_date,
    -- the date a registration counts from: a notification's date, else its start
    cast(coalesce(start_date, notification_date) as date) as registered_from,
    outcome,
    reason,
    delivered_on
from source_rows
