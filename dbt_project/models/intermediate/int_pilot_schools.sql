-- Every school of every pilot with that pilot's period: the one join of the registry's
-- schools and pilots that the exposure, dropout, survey and school models read (a month
-- is in the period by the macro in_pilot_period).
select
    pilot_schools.pilot_id,
    pilot_schools.school_id,
    pilots.start_date,
    pilots.planned_end_date
from {{ ref('stg_registry__pilot_schools') }} as pilot_schools
inner join {{ ref('stg_registry__pilots') }} as pilots on pilots.pilot_id = pilot_schools.pilot_id
