-- JW301 allocations (toewijzingen): one row per allocated product.
with source_rows as (
    {{ current_rows('ijw_allocations') }}
)

select
    {{ ijw_message_header() }},
    allocation_number,
    provider_reference,
    product_category,
    product_code,
    cast(allocation_date as date) as allocation_date,
    cast(allocation_start as date) as allocation_start,
    cast(allocation_end as date) as allocation_end,
    volume,
    unit as unit_code,
    frequency as frequency_code,
    budget_cents
from source_rows
