-- JW307 end of care: one row per ended allocated product, with the end reason (JZ588).
with source_rows as (
    {{ current_rows('ijw_stops') }}
)

select
    {{ ijw_message_header() }},
    allocation_number,
    product_category,
    product_code,
    cast(start_date as date) as start_date,
    cast(end_date as date) as end_date,
    end_reason as end_reason_code
from source_rows
