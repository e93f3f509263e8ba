-- Questionnaire responses (parents, teachers, pupils): five school-climate items (1-5)
-- and overall satisfaction (1-10).
with source_rows as (
    {{ current_rows('survey_responses') }}
)

select
    delivery_id,
    row_locator,
    case respondent_group
        when 'ouders' then 'parents'
        when 'leerkrachten' then 'teachers'
        when 'leerlingen' then 'pupils'
        else respondent_group
    end as respondent_group,
    respondent_id,
    school_id,
    cast(response_date as date) as response_date,
    climate_1, climate_2, climate_3, climate_4, climate_5,
    satisfaction
from source_rows
