-- One row per school site in the DUO registry, with its pilot membership: the pilot it
-- takes part in and the pilot period (a school in no pilot has null pilot columns).
with membership as (
    select * from (
        select
            pilots.school_id,
            pilots.pilot_id,
            pilots.start_date,
            pilots.planned_end_date,
            row_number() over (partition by pilots.school_id order by pilots.start_date desc) as latest_first
        from {{ ref('int_pilot_schools') }} as pilots
    ) as ranked
    where latest_first = 1
)

select
    duo.school_id,
    duo.brin,
    duo.vestiging,
    duo.school_name,
    duo.school_type,
    school_kinds.school_sector,
    school_kinds.is_special_education,
    duo.cluster,
    duo.municipality_code,
    duo.municipality_name,
    provinces.code as province_code,
    duo.province_name,
    membership.pilot_id,
    membership.start_date as pilot_start_date,
    membership.planned_end_date as pilot_planned_end_date,
    membership.pilot_id is not null as is_pilot_school
from {{ ref('stg_duo__schools') }} as duo
left join {{ ref('provinces') }} as provinces on provinces.name = duo.province_name
left join {{ ref('int_school_kinds') }} as school_kinds on school_kinds.school_id = duo.school_id
left join membership on membership.school_id = duo.school_id
