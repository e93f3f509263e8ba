-- JW305 start of care: one row per started allocated product.
with source_rows as (
    {{ current_rows('ijw_starts') }}
)

select
    {{ ijw_message_header() }},
    allocation_number,
    product_category,
    product_code,
    cast(start_date as date) as start_date
from source_rows
