-- Early school leavers (voortijdig schoolverlaters, VSV): pupils who left education
-- without a startkwalificatie aged {{ var('vsv_min_age') }} to {{ var('vsv_max_age') }}, from two sources:
-- - school records: an exit to no education (int_school_exits.is_dropout) from a
--   secondary school (sector VO of the seed school_types: VO, PRO, VSO); the pupil administrations
--   deliver no diplomas, and a diploma giving a startkwalificatie ends a spell with a
--   destination in education or work, never as a dropout;
-- - the leerplicht/RMC register: registrations of early school leavers.
-- One row per leaving event: an exit and a registration of the same pupil at most
-- {{ var('vsv_match_days') }} days apart are one event (source_status both), else school_only or
-- register_only. The event's date is the exit date when the school records hold it.
with exits as (
    select
        exits.pupil_pseudonym,
        exits.school_id,
        exits.enrol_end as leave_date,
        schools.municipality_code
    from {{ ref('int_school_exits') }} as exits
    inner join {{ ref('stg_duo__schools') }} as schools on schools.school_id = exits.school_id
    inner join {{ ref('int_school_kinds') }} as kinds on kinds.school_id = exits.school_id
    inner join {{ ref('int_enrolment_spells') }} as spells
        on spells.pupil_pseudonym = exits.pupil_pseudonym and spells.school_id = exits.school_id and spells.enrol_start = exits.enrol_start
    where exits.is_dropout
      and kinds.school_sector = 'VO'
      and {{ months_between('spells.birth_month', month_start('exits.enrol_end')) }} between 12 * {{ var('vsv_min_age') }} and 12 * {{ var('vsv_max_age') }} + 11
),

registered as (
    select pupil_pseudonym, school_id, start_date as leave_date, municipality_code
    from (
        select
            *,
            row_number() over (partition by pupil_pseudonym, start_date order by delivered_on desc, delivery_id desc, row_locator) as newest_first
        from {{ ref('stg_leerplicht__registrations') }}
        where registration = 'early_school_leaver'
    ) as ranked
    where newest_first = 1
),

pairs as (
    select
        exits.pupil_pseudonym,
        exits.leave_date as exit_date,
        registered.leave_date as registered_date,
        registered.municipality_code as register_municipality_code,
        row_number() over (partition by exits.pupil_pseudonym, exits.leave_date order by abs({{ dbt.datediff('exits.leave_date', 'registered.leave_date', 'day') }}), registered.leave_date) as closest_first
    from exits
    inner join registered
        on registered.pupil_pseudonym = exits.pupil_pseudonym
        and abs({{ dbt.datediff('exits.leave_date', 'registered.leave_date', 'day') }}) <= {{ var('vsv_match_days') }}
),

events as (
    select
        exits.pupil_pseudonym,
        exits.school_id,
        exits.leave_date,
        coalesce(pairs.register_municipality_code, exits.municipality_code) as municipality_code,
        case when pairs.registered_date is null then 'school_only' else 'both' end as source_status
    from exits
    left join pairs on pairs.pupil_pseudonym = exits.pupil_pseudonym and pairs.exit_date = exits.leave_date and pairs.closest_first = 1
    union all
    select
        registered.pupil_pseudonym,
        registered.school_id,
        registered.leave_date,
        registered.municipality_code,
        'register_only' as source_status
    from registered
    where not exists (
        select 1 from pairs
        where pairs.pupil_pseudonym = registered.pupil_pseudonym and pairs.registered_date = registered.leave_date
    )
)

select
    {{ dbt.hash("pupil_pseudonym || '|' || cast(leave_date as " ~ dbt.type_string() ~ ") || '|' || source_status") }} as leaver_id,
    events.*,
    {{ month_start('events.leave_date') }} as leave_month,
    {{ convenant_year('events.leave_date') }} as convenant_year
from events
