-- Absence per pupil and month: authorised and unauthorised hours and days.
select
    pupil_pseudonym,
    absence_month as month,
    sum(case when is_authorised then hours else 0 end) as authorised_hours,
    sum(case when not is_authorised then hours else 0 end) as unauthorised_hours,
    count(distinct case when not is_authorised then absence_date end) as unauthorised_days
from {{ ref('stg_school__absence') }}
group by pupil_pseudonym, absence_month
