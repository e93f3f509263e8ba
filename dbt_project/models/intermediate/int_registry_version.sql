-- A fingerprint of everything in the pilot registry that decides treatment. Incremental
-- facts rebuild completely when it changes (a pilot's dates or schools were edited).
select
    -- cast: PostgreSQL's md5 gives text, the facts' contracts varchar
    cast({{ dbt.hash(dbt.listagg("pilots.pilot_id || ':' || cast(pilots.start_date as " ~ dbt.type_string() ~ ") || ':' || coalesce(cast(pilots.planned_end_date as " ~ dbt.type_string() ~ "), '') || ':' || coalesce(schools.school_ids, '')", "';'", "order by pilots.pilot_id")) }} as {{ type_varchar() }}) as registry_version
from {{ ref('stg_registry__pilots') }} as pilots
left join (
    select pilot_id, {{ dbt.listagg('school_id', "','", 'order by school_id') }} as school_ids
    from {{ ref('stg_registry__pilot_schools') }}
    group by pilot_id
) as schools on schools.pilot_id = pilots.pilot_id
