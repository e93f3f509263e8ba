{{ config(
    materialized='incremental',
    on_schema_change='fail',
    **incremental_by_month()
) }}
-- depends_on: {{ ref('int_registry_version') }}
-- depends_on: {{ ref('int_delivery_changes') }}
-- The panel aggregated per school and month, with pupil-months as exposure. Rates per
-- 100 pupil-months are left to the analyses (counts and exposure stay additive).
select
    panel.school_id,
    panel.month,
    min(panel.school_year) as school_year,
    -- cast: PostgreSQL's max of a varchar is text, the contract says varchar
    cast(max(panel.pilot_id) as {{ type_varchar() }}) as pilot_id,
    max(case when panel.is_pilot_school then 1 else 0 end) = 1 as is_pilot_school,
    max(case when panel.is_treated then 1 else 0 end) = 1 as is_treated,
    max(panel.months_since_pilot_start) as months_since_pilot_start,
    count(*) as pupil_months,
    cast(sum(case when panel.is_compulsory_school_age then 1 else 0 end) as bigint) as compulsory_age_pupil_months,
    cast(sum(panel.new_referrals) as bigint) as new_referrals,
    cast(sum(panel.new_referrals_allocated) as bigint) as new_referrals_allocated,
    {%- for code, label in referrer_types() %}
    cast(sum(panel.new_referrals_{{ label }}) as bigint) as new_referrals_{{ label }},
    {%- endfor %}
    {%- for kind in kinds_of_care() %}
    cast(sum(panel.new_referrals_{{ kind }}) as bigint) as new_referrals_{{ kind }},
    {%- endfor %}
    cast(sum(panel.new_referrals_kind_unspecified) as bigint) as new_referrals_kind_unspecified,
    cast(sum(panel.active_care_trajectories) as bigint) as active_care_trajectories,
    cast(sum(case when panel.active_care_trajectories > 0 then 1 else 0 end) as bigint) as pupils_in_care,
    cast(sum(panel.authorised_absence_hours) as {{ type_double() }}) as authorised_absence_hours,
    cast(sum(panel.unauthorised_absence_hours) as {{ type_double() }}) as unauthorised_absence_hours,
    cast(sum(case when panel.is_thuiszitter then 1 else 0 end) as bigint) as thuiszitter_pupils,
    cast(sum(case when panel.thuiszitter_spell_started then 1 else 0 end) as bigint) as thuiszitter_spell_starts,
    cast(sum(case when panel.is_exit then 1 else 0 end) as bigint) as exits,
    cast(sum(case when panel.is_dropout then 1 else 0 end) as bigint) as dropouts,
    cast(sum(case when panel.is_early_school_leaver then 1 else 0 end) as bigint) as early_school_leavers,
    cast(sum(case when panel.is_regular_education then 1 else 0 end) as bigint) as regular_education_pupil_months,
    cast(sum(case when panel.is_special_education_referral then 1 else 0 end) as bigint) as special_education_referrals,
    cast(sum(panel.declared_cost_cents) as bigint) as declared_cost_cents,
    {%- for kind in kinds_of_care() %}
    cast(sum(panel.declared_cost_cents_{{ kind }}) as bigint) as declared_cost_cents_{{ kind }},
    {%- endfor %}
    max(panel.loaded_through) as loaded_through,
    cast(max(panel.registry_version) as {{ type_varchar() }}) as registry_version,
    {{ build_stamp_column() }}
from {{ ref('fct_pupil_month') }} as panel
{% if is_incremental() %}
where panel.month >= {{ rebuild_from_month() }}
{% endif %}
group by panel.school_id, panel.month
