-- One row per questionnaire response with its scale scores, the school year and whether
-- the school was in its pilot period in the month of the response (macro in_pilot_period).
select
    scores.delivery_id,
    scores.row_locator,
    scores.respondent_group,
    scores.respondent_id,
    scores.school_id,
    scores.response_date,
    scores.school_year,
    scores.climate_items_answered,
    scores.climate_score,
    scores.satisfaction,
    pilots.pilot_id,
    pilots.pilot_id is not null as is_treated
from {{ ref('int_survey_scores') }} as scores
left join {{ ref('int_pilot_schools') }} as pilots
    on pilots.school_id = scores.school_id
    and {{ in_pilot_period(month_start('scores.response_date'), 'pilots') }}
