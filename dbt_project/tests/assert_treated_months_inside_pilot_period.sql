{{ config(meta={'dagster': {'ref': {'name': 'fct_pupil_month'}}}) }}
-- Treated pupil-months only inside the pilot period of the school's own pilot, and every
-- pupil-month of a pilot school inside that period is treated. The months the latest build
-- wrote (see macros/tests/latest_build.sql): a change of the pilot registry rebuilds them all.
select panel.pupil_pseudonym, panel.month, panel.school_id, panel.is_treated, pilots.start_date, pilots.planned_end_date
from {{ ref('fct_pupil_month') }} as panel
left join {{ ref('int_pilot_schools') }} as pilots
    on pilots.school_id = panel.school_id and pilots.pilot_id = panel.pilot_id
where {{ latest_build_rows(ref('fct_pupil_month'), 'panel.loaded_through') }}
  and ((panel.is_treated and (pilots.pilot_id is null or not {{ in_pilot_period('panel.month', 'pilots') }}))
   or (not panel.is_treated and pilots.pilot_id is not null and {{ in_pilot_period('panel.month', 'pilots') }}))
