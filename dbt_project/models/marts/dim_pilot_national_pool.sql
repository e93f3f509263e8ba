-- The national comparison pool of each pilot (the plan's robustness variant
-- twfe_poisson_national_pool): every school of a school type of the pilot's registered
-- comparison pool, in any province and any (SO) cluster, that is no pilot school of any
-- pilot (always left out, whatever exclude_pilot_schools says: other pilots' schools are
-- treated) and that has pupil-months in the panel.
with pool_types as (
    select distinct pilot_id, value as school_type
    from {{ ref('stg_registry__comparison_rules') }}
    where dimension = 'school_type'
),

with_pupils as (
    select distinct school_id from {{ ref('fct_school_month') }} where pupil_months > 0
)

select pool_types.pilot_id, schools.school_id
from pool_types
inner join {{ ref('dim_school') }} as schools on schools.school_type = pool_types.school_type
inner join with_pupils on with_pupils.school_id = schools.school_id
where not schools.is_pilot_school
