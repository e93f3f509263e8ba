-- JW305 start of care: one row per started allocated product.
with source_rows as (
    {{ current_rows('ijw_starts') }}
)

select
    delivery_id,
    row_locator,
    delivery_registered_at,
    message_id,
    provider_agb,
    {{ municipality_key('municipality_code') }} as municipality_code,
    cast(message_date as date) as message_date,
    client_pseudonym,
    allocation_number,
    product_category,
    product_code,
    cast(start_date as date) as start_date
from source_rows
