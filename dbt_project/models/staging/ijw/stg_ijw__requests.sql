-- JW315 requests for allocation (verzoek om toewijzing), the referral event: one row per message.
with source_rows as (
    {{ current_rows('ijw_requests') }}
)

select
    delivery_id,
    row_locator,
    delivery_registered_at,
    message_id,
    provider_agb,
    {{ municipality_key('municipality_code') }} as municipality_code,
    cast(message_date as date) as request_date,
    client_pseudonym,
    provider_reference,
    product_category,
    product_code,
    cast(requested_start as date) as requested_start,
    cast(requested_end as date) as requested_end,
    volume,
    unit as unit_code,
    frequency as frequency_code,
    referrer_type as referrer_type_code
from source_rows
