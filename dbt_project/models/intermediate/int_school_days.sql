-- School days as the deliveries show them: every date on which some school recorded
-- absence. Weekends, holidays and closures (no records anywhere) drop out, so runs of
-- consecutive school days can be counted without a holiday calendar per region.
select
    absence_date as school_date,
    row_number() over (order by absence_date) as school_day_number
from (select distinct absence_date from {{ ref('stg_school__absence') }}) as dates
