-- The warehouse's early school leavers against DUO's published VSV figures, per school
-- site and per municipality and convenantjaar (1 October to 1 October). The warehouse
-- counts from the school records (exits to no education from secondary schools, with the
-- register's RMC registrations as a second source); DUO counts from BRON for everyone it
-- registers. Differences are expected where the warehouse lacks a school's records or a
-- pupil's later enrolment elsewhere; a large one is worth a question to the school.
with duo as (
    select
        level,
        coalesce(school_id, municipality_code) as unit_id,
        convenant_year,
        sum(participants) as duo_participants,
        sum(early_leavers) as duo_early_leavers
    from {{ ref('stg_duo__vsv') }}
    group by level, coalesce(school_id, municipality_code), convenant_year
),

warehouse as (
    {%- for level, unit in [('school', 'school_id'), ('municipality', 'municipality_code')] %}
    select '{{ level }}' as level, {{ unit }} as unit_id, convenant_year,
        count(*) filter (where source_status in ('both', 'school_only')) as warehouse_early_leavers,
        count(*) filter (where source_status in ('both', 'register_only')) as register_early_leavers
    from {{ ref('int_early_school_leavers') }}
    where {{ unit }} is not null
    group by {{ unit }}, convenant_year
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

-- the convenantjaren DUO has published: only those can be compared
published as (
    select distinct convenant_year from duo
)

select
    coalesce(duo.level, warehouse.level) as level,
    coalesce(duo.unit_id, warehouse.unit_id) as unit_id,
    coalesce(duo.convenant_year, warehouse.convenant_year) as convenant_year,
    cast(duo.duo_participants as integer) as duo_participants,
    cast(coalesce(duo.duo_early_leavers, 0) as integer) as duo_early_leavers,
    cast(coalesce(warehouse.warehouse_early_leavers, 0) as integer) as warehouse_early_leavers,
    cast(coalesce(warehouse.register_early_leavers, 0) as integer) as register_early_leavers,
    cast(coalesce(warehouse.warehouse_early_leavers, 0) - coalesce(duo.duo_early_leavers, 0) as integer) as difference,
    duo.unit_id is not null as in_duo,
    warehouse.unit_id is not null as in_warehouse
from duo
full outer join warehouse
    on warehouse.level = duo.level and warehouse.unit_id = duo.unit_id and warehouse.convenant_year = duo.convenant_year
where coalesce(duo.convenant_year, warehouse.convenant_year) in (select convenant_year from published)
