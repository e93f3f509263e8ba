-- The months the pupil panel covers: from the first school year any school export covers
-- to the last month with recorded absence (the as-of month of the school deliveries).
select
    (select min(cast(substr(enrolment_deliveries.period, 1, 4) || '-08-01' as date))
     from ({{ current_deliveries('school_enrolments') }}) as enrolment_deliveries) as first_month,
    (select max(absence_month) from {{ ref('stg_school__absence') }}) as last_month
