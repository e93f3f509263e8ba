-- Absence per pupil and month: authorised and unauthorised hours, what the panel uses (a
-- count of distinct unauthorised days, used nowhere, made the query 4.5x slower at the
-- ZH+NH pool: 57-68 s against 12-14 s for 30.5 million pupil-months).
select
    pupil_pseudonym,
    absence_month as month,
    sum(case when is_authorised then hours else 0 end) as authorised_hours,
    sum(case when not is_authorised then hours else 0 end) as unauthorised_hours
from {{ ref('stg_school__absence') }}
group by pupil_pseudonym, absence_month
