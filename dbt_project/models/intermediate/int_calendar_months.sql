-- Every calendar month from the earliest to the latest date any current delivery talks
-- about (enrolments, absence, care, declarations).
with bounds as (
    select min(first_day) as first_day, max(last_day) as last_day
    from (
        select min(enrol_start) as first_day, max(coalesce(enrol_end, enrol_start)) as last_day from {{ ref('stg_school__enrolments') }}
        union all
        select min(absence_date), max(absence_date) from {{ ref('stg_school__absence') }}
        union all
        select min(request_date), max(request_date) from {{ ref('stg_ijw__requests') }}
        union all
        select min(service_start), max(service_end) from {{ ref('stg_ijw__declaration_lines') }}
    ) as per_source
),

months as (
    {{ month_spine('bounds', 'first_day', 'last_day') }}
)

select
    month,
    {{ month_end('month') }} as month_end,
    cast(extract(year from month) as integer) as calendar_year,
    -- school year runs August to July; named by its first calendar year
    {{ school_year('month') }} as school_year
from months
