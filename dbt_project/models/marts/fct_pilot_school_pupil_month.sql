{{ config(
    materialized='incremental',
    on_schema_change='fail',
    **incremental_by_month()
) }}
-- depends_on: {{ ref('int_registry_version') }}
-- depends_on: {{ ref('int_delivery_changes') }}
-- The panel's pupil-months at pilot schools, with the pupil-level outcomes whose
-- per-pupil values the reports' disclosure control checks (absence). The panel is stored
-- in month order, so a query for a few schools reads every pupil's pseudonym of its
-- months: at the national pool the treated schools' year before a pilot took 1.2-1.9 s
-- warm and up to 33 s cold per pilot from fct_pupil_month (178 million rows); this holds
-- the pilot schools' rows only. A registry change rebuilds it whole (rebuild_from_month).
select
    panel.pupil_pseudonym,
    panel.month,
    panel.school_id,
    panel.pilot_id,
    panel.is_treated,
    panel.authorised_absence_hours,
    panel.unauthorised_absence_hours,
    panel.loaded_through,
    panel.registry_version,
    {{ build_stamp_column() }}
from {{ ref('fct_pupil_month') }} as panel
where panel.is_pilot_school
{% if is_incremental() %}
    and panel.month >= {{ rebuild_from_month() }}
{% endif %}
