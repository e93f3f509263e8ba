-- JW323 declaration lines. Amounts arrive unsigned with a debit/credit indicator
-- (COD043); signed_amount_cents applies the sign so sums net credits against debits.
with source_rows as (
    {{ current_rows('ijw_declaration_lines') }}
)

select
    source_rows.delivery_id,
    source_rows.row_locator,
    source_rows.delivery_registered_at,
    source_rows.message_id,
    source_rows.declaration_number,
    source_rows.provider_agb,
    {{ municipality_key('source_rows.municipality_code') }} as municipality_code,
    cast(source_rows.declaration_date as date) as declaration_date,
    source_rows.client_pseudonym,
    source_rows.product_reference,
    source_rows.previous_product_reference,
    source_rows.allocation_number,
    source_rows.product_category,
    source_rows.product_code,
    cast(source_rows.product_period_start as date) as service_start,
    cast(source_rows.product_period_end as date) as service_end,
    source_rows.volume,
    source_rows.unit as unit_code,
    source_rows.tariff_cents,
    source_rows.amount_cents,
    source_rows.debit_credit as debit_credit_code,
    dc.sign * source_rows.amount_cents as signed_amount_cents
from source_rows
left join {{ ref('ijw_debit_credit') }} as dc on dc.code = source_rows.debit_credit
