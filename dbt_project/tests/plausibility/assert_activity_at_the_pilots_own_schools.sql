{{ config(severity='warn', tags=['plausibility'], meta={'dagster': {'ref': {'name': 'fct_pilot_activity'}}}) }}
-- Plausibility: a pilot's activity log names the pilot's own schools (the registry). Activity
-- logged at another school would count as dose where the pilot does not work: the log or the
-- registry is wrong, and the steward asks the pilot which.
select
    activity.pilot_id,
    activity.school_id,
    min(activity.month) as first_month,
    count(*) as months,
    'activity logged at a school that is not one of the pilot''s schools in the registry' as problem
from {{ ref('fct_pilot_activity') }} as activity
left join {{ ref('stg_registry__pilot_schools') }} as schools
    on schools.pilot_id = activity.pilot_id and schools.school_id = activity.school_id
where schools.school_id is null
group by activity.pilot_id, activity.school_id
