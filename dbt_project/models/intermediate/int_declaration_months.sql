{{ config(
    materialized='incremental',
    on_schema_change='fail',
    **incremental_by_month()
) }}
-- Netted declared lines spread over the months they cover, pro rata by days. Cents are
-- allocated cumulatively (floor of the running share) so the parts add up to the line's
-- net amount exactly. Incremental by month: a line reaching into the months rebuilt is
-- spread again from its first month (its share of a month depends on the months before).
{%- set from_month = rebuild_from_month() if is_incremental() else none %}
with line_months as (
    select
        lines.declared_line_id,
        lines.client_pseudonym,
        lines.municipality_code,
        lines.provider_agb,
        lines.product_category,
        lines.net_amount_cents,
        months.month,
        cast({{ days_inclusive("case when lines.service_start > months.month then lines.service_start else months.month end",
                               "case when lines.service_end < months.month_end then lines.service_end else months.month_end end") }} as bigint) as days_in_month,
        cast({{ days_inclusive('lines.service_start', 'lines.service_end') }} as bigint) as days_total
    from {{ ref('int_declaration_lines_netted') }} as lines
    inner join {{ ref('int_calendar_months') }} as months
        on months.month >= {{ month_start('lines.service_start') }}
        and months.month <= lines.service_end
    {% if is_incremental() %}
    where lines.service_end >= {{ from_month }}
    {% endif %}
),

cumulative as (
    select
        line_months.*,
        sum(days_in_month) over (partition by declared_line_id order by month rows between unbounded preceding and current row) as days_through
    from line_months
),

allocated as (
    select
        cumulative.*,
        cast(floor(1.0 * net_amount_cents * days_through / days_total) as bigint) as cents_through
    from cumulative
),

spread as (
    select
        declared_line_id,
        client_pseudonym,
        municipality_code,
        provider_agb,
        product_category,
        month,
        days_in_month,
        cents_through - coalesce(lag(cents_through) over (partition by declared_line_id order by month), 0) as amount_cents
    from allocated
)

select
    spread.*,
    {{ lineage_columns() }},
    {{ build_stamp_column() }}
from spread
{% if is_incremental() %}
where spread.month >= {{ from_month }}
{% endif %}
