{{ config(
    materialized='incremental',
    on_schema_change='fail',
    **incremental_by_month()
) }}
-- Declared product lines netted for credit lines. A declared line is a product reference
-- *and its period*: a long trajectory is declared month by month under one reference. A
-- credit line (C) reverses an earlier debit line: the one named in its
-- previous_product_reference for the same period. Both fold into that original line, so
-- net_amount_cents = debit - credits. A credit whose original line never arrived keeps
-- its own period and counts as a negative amount (no money is dropped).
-- Incremental by the month of service_start: every line folded into a line shares its
-- service_start, and a delivery's lines start in or after its first month
-- (int_delivery_changes), so the lines of the months a build rebuilds are all read again.
with lines as (
    select
        *,
        case
            when debit_credit_code = 'C' and previous_product_reference is not null then previous_product_reference
            else product_reference
        end as original_reference
    from {{ ref('stg_ijw__declaration_lines') }}
    {% if is_incremental() %}
    where service_start >= {{ rebuild_from_month() }}
    {% endif %}
),

originals as (
    select * from (
        select
            lines.*,
            row_number() over (
                partition by provider_agb, original_reference, service_start
                order by case when debit_credit_code = 'D' and product_reference = original_reference then 0 else 1 end,
                         delivery_registered_at, row_locator
            ) as attribute_rank
        from lines
    ) as ranked
    where attribute_rank = 1
),

totals as (
    select
        provider_agb,
        original_reference,
        service_start,
        sum(case when debit_credit_code = 'D' then amount_cents else 0 end) as debit_cents,
        sum(case when debit_credit_code = 'C' then amount_cents else 0 end) as credit_cents,
        sum(signed_amount_cents) as net_amount_cents,
        count(*) as line_count
    from lines
    group by provider_agb, original_reference, service_start
)

select
    -- cast: PostgreSQL's md5 gives text, the facts' contracts varchar (an incremental
    -- build compares the two and stops on the difference)
    cast({{ dbt.hash("originals.provider_agb || '|' || originals.original_reference || '|' || cast(originals.service_start as " ~ dbt.type_string() ~ ")") }} as {{ type_varchar() }}) as declared_line_id,
    originals.provider_agb,
    originals.original_reference as product_reference,
    originals.municipality_code,
    originals.client_pseudonym,
    originals.allocation_number,
    originals.product_category,
    originals.product_code,
    originals.service_start,
    originals.service_end,
    originals.declaration_date,
    totals.debit_cents,
    totals.credit_cents,
    totals.net_amount_cents,
    totals.line_count,
    {{ month_start('originals.service_start') }} as month,
    {{ lineage_columns() }},
    {{ build_stamp_column() }}
from originals
inner join totals
    on totals.provider_agb = originals.provider_agb
    and totals.original_reference = originals.original_reference
    and totals.service_start = originals.service_start
