{{ config(severity='warn', tags=['plausibility'], meta={'dagster': {'ref': {'name': 'fct_school_month'}}}) }}
-- Plausibility: a school's referrals per 100 pupil-months in a school year lie within a
-- factor {{ var('plausible_rate_factor') }} of the school's median rate over its other years. Only judged when at
-- least {{ var('plausible_min_expected') }} referrals are expected, and only when the count is also beyond chance:
-- Anscombe's variance-stabilised Poisson deviation 2(sqrt(n + 3/8) - sqrt(expected)) beyond
-- {{ var('plausible_z') }} (about 1 in 30,000 by chance per school-year). A factor alone fires by chance: 4
-- referrals where 13 were expected happens a few times in 400 clean school-years. A pilot
-- effect (a ratio well inside the factor) passes; a lost or doubled year of deliveries does not.
with years as (
    select school_id, school_year, sum(new_referrals) as referrals, sum(pupil_months) as pupil_months
    from {{ ref('fct_school_month') }}
    group by school_id, school_year
),

rates as (
    select years.*, 1.0 * referrals / pupil_months as rate from years where pupil_months > 0
),

history as (
    select
        current_year.school_id,
        current_year.school_year,
        current_year.referrals,
        current_year.pupil_months,
        (select {{ median_of('other.rate') }} from rates as other
         where other.school_id = current_year.school_id and other.school_year <> current_year.school_year) as usual_rate
    from rates as current_year
)

select
    school_id,
    school_year,
    referrals,
    round(cast(usual_rate * pupil_months as numeric), 1) as expected_referrals,
    'referrals per 100 pupil-months outside the school''s usual range' as problem
from history
where usual_rate * pupil_months >= {{ var('plausible_min_expected') }}
  and (referrals > usual_rate * pupil_months * {{ var('plausible_rate_factor') }}
       or referrals < usual_rate * pupil_months / {{ var('plausible_rate_factor') }})
  and abs(2 * (sqrt(referrals + 0.375) - sqrt(usual_rate * pupil_months))) > {{ var('plausible_z') }}
