-- The dose: monthly activity of the youth support workers per pilot school, next to the
-- number of pupils enrolled that month (contacts per 100 pupils are then simple ratios).
with pupils as (
    select school_id, month, count(*) as pupils_enrolled
    from {{ ref('int_pupil_months') }}
    group by school_id, month
)

select
    activity.pilot_id,
    activity.school_id,
    activity.month,
    activity.contacts_pupils,
    activity.contacts_parents,
    activity.group_sessions,
    activity.consultations_teachers,
    activity.consultations_providers,
    activity.contacts_pupils + activity.contacts_parents + activity.group_sessions
        + activity.consultations_teachers + activity.consultations_providers as total_activities,
    pupils.pupils_enrolled
from {{ ref('stg_pilot__activity') }} as activity
left join pupils on pupils.school_id = activity.school_id and pupils.month = activity.month
