-- One row per pilot and calendar month of the warehouse: the pilot's design in time,
-- written once for every consumer (the analysis plan and the report filter on it).
-- Event time counts whole months from the pilot's first treated month; a month is in the
-- pilot period by the macro in_pilot_period; a school-closure month is one that any
-- national school closure (seed school_closures) touches.
select
    pilots.pilot_id,
    months.month,
    {{ pilot_event_time('months.month', 'pilots') }} as event_time,
    {{ in_pilot_period('months.month', 'pilots') }} as in_pilot_period,
    exists (
        select 1 from {{ ref('school_closures') }} as closures
        where closures.first_day <= months.month_end and closures.last_day >= months.month
    ) as is_school_closure_month
from {{ ref('stg_registry__pilots') }} as pilots
cross join {{ ref('int_calendar_months') }} as months
