-- The municipal product list (productcodes with unit, frequency and tariff).
with source_rows as (
    {{ current_rows('product_list') }}
)

select
    product_category,
    product_code,
    description,
    unit as unit_code,
    frequency as frequency_code,
    tariff_cents
from source_rows
