-- JW307 end of care: one row per ended allocated product, with the end reason (JZ588).
with source_rows as (
    {{ current_rows('ijw_stops') }}
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
    cast(start_date as date) as start_date,
    cast(end_date as date) as end_date,
    end_reason as end_reason_code
from source_rows
