{{ config(
    materialized='incremental',
    on_schema_change='fail',
    **incremental_by_month()
) }}
-- Declared youth-care cost per declared product line and month of service: debit minus
-- credit lines (netted), spread over the months the line covers. Joined to the pupil's
-- school in that month when the client is a pupil (school_id null otherwise).
select
    months.declared_line_id,
    months.month,
    months.client_pseudonym,
    months.municipality_code,
    months.provider_agb,
    months.product_category,
    categories.description_en as product_category_description,
    categories.kind_of_care,
    months.days_in_month,
    months.amount_cents,
    panel.school_id,
    {{ lineage_columns() }},
    {{ build_stamp_column() }}
from {{ ref('int_declaration_months') }} as months
left join {{ ref('int_pupil_months') }} as panel
    on panel.pupil_pseudonym = months.client_pseudonym and panel.month = months.month
left join {{ ref('ijw_product_categories') }} as categories on categories.code = months.product_category
{% if is_incremental() %}
where months.month >= {{ rebuild_from_month() }}
{% endif %}
