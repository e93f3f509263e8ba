-- Treatment assignment as SQL anyone can read: per pilot, its own schools (role
-- 'treated') and the comparison pool (role 'comparison'): schools matching every
-- dimension of the pilot's rule (school type, province, cluster) or listed explicitly,
-- leaving out schools of any pilot when the pilot says so.
with schools as (
    select duo.school_id, duo.school_type, provinces.code as province_code, cast(duo.cluster as {{ dbt.type_string() }}) as cluster
    from {{ ref('stg_duo__schools') }} as duo
    left join {{ ref('provinces') }} as provinces on provinces.name = duo.province_name
),

rules as (
    select
        pilot_id,
        sum(case when dimension = 'school' then 1 else 0 end) as explicit_schools,
        sum(case when dimension = 'school_type' then 1 else 0 end) as type_rules,
        sum(case when dimension = 'province' then 1 else 0 end) as province_rules,
        sum(case when dimension = 'cluster' then 1 else 0 end) as cluster_rules
    from {{ ref('stg_registry__comparison_rules') }}
    group by pilot_id
),

matches as (
    select pilots.pilot_id, schools.school_id
    from {{ ref('stg_registry__pilots') }} as pilots
    inner join rules on rules.pilot_id = pilots.pilot_id
    cross join schools
    where (
        rules.explicit_schools > 0
        and exists (select 1 from {{ ref('stg_registry__comparison_rules') }} as r
                    where r.pilot_id = pilots.pilot_id and r.dimension = 'school' and r.value = schools.school_id)
    ) or (
        rules.explicit_schools = 0
        and (rules.type_rules = 0 or exists (select 1 from {{ ref('stg_registry__comparison_rules') }} as r
                    where r.pilot_id = pilots.pilot_id and r.dimension = 'school_type' and r.value = schools.school_type))
        and (rules.province_rules = 0 or exists (select 1 from {{ ref('stg_registry__comparison_rules') }} as r
                    where r.pilot_id = pilots.pilot_id and r.dimension = 'province' and r.value = schools.province_code))
        and (rules.cluster_rules = 0 or exists (select 1 from {{ ref('stg_registry__comparison_rules') }} as r
                    where r.pilot_id = pilots.pilot_id and r.dimension = 'cluster' and r.value = schools.cluster))
    )
),

comparison as (
    select matches.pilot_id, matches.school_id
    from matches
    inner join {{ ref('stg_registry__pilots') }} as pilots on pilots.pilot_id = matches.pilot_id
    where not exists (select 1 from {{ ref('stg_registry__pilot_schools') }} as own
                      where own.pilot_id = matches.pilot_id and own.school_id = matches.school_id)
      and not (pilots.exclude_pilot_schools_from_comparison
               and exists (select 1 from {{ ref('stg_registry__pilot_schools') }} as any_pilot where any_pilot.school_id = matches.school_id))
)

select pilot_schools.pilot_id, pilot_schools.school_id, 'treated' as role
from {{ ref('stg_registry__pilot_schools') }} as pilot_schools
union all
select pilot_id, school_id, 'comparison' as role
from comparison
