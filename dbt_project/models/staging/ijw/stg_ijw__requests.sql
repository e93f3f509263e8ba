-- JW315 requests for allocation (verzoek om toewijzing), the referral event: one row per message.
with source_rows as (
    {{ current_rows('ijw_requests') }}
)

select
    {{ ijw_message_header(date_as='request_date') }},
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
