-- JW323 declaration lines. Amounts arrive unsigned with a debit/credit indicator
-- (COD043); signed_amount_cents applies the sign so sums net credits against debits.
with source_rows as (
    {{ current_rows('ijw_declaration_lines') }}
)

select
    {{ ijw_message_header('source_rows', date_column='declaration_date', message_keys=['declaration_number']) }},
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
