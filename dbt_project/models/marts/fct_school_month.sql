{{ config(
    materialized='incremental',
    unique_key='month',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}
-- The panel aggregated per school and month, with pupil-months as exposure. Rates per
-- 100 pupil-months are left to the analyses (counts and exposure stay additive).
select
    panel.school_id,
    panel.month,
    min(panel.school_year) as school_year,
    max(panel.pilot_id) as pilot_id,
    max(case when panel.is_pilot_school then 1 else 0 end) = 1 as is_pilot_school,
    max(case when panel.is_treated then 1 else 0 end) = 1 as is_treated,
    max(panel.months_since_pilot_start) as months_since_pilot_start,
    count(*) as pupil_months,
    sum(case when panel.is_compulsory_school_age then 1 else 0 end) as compulsory_age_pupil_months,
    sum(panel.new_referrals) as new_referrals,
    sum(panel.new_referrals_allocated) as new_referrals_allocated,
    {%- for code, label in referrer_types() %}
    sum(panel.new_referrals_{{ label }}) as new_referrals_{{ label }},
    {%- endfor %}
    sum(panel.active_care_trajectories) as active_care_trajectories,
    sum(case when panel.active_care_trajectories > 0 then 1 else 0 end) as pupils_in_care,
    sum(panel.authorised_absence_hours) as authorised_absence_hours,
    sum(panel.unauthorised_absence_hours) as unauthorised_absence_hours,
    sum(case when panel.is_thuiszitter then 1 else 0 end) as thuiszitter_pupils,
    sum(case when panel.thuiszitter_spell_started then 1 else 0 end) as thuiszitter_spell_starts,
    sum(case when panel.is_exit then 1 else 0 end) as exits,
    sum(case when panel.is_dropout then 1 else 0 end) as dropouts,
    sum(panel.declared_cost_cents) as declared_cost_cents,
    max(panel.loaded_through) as loaded_through,
    max(panel.registry_version) as registry_version
from {{ ref('fct_pupil_month') }} as panel
{% if is_incremental() %}
where panel.month >= {{ rebuild_from_month() }}
{% endif %}
group by panel.school_id, panel.month
