-- Survey scale scores per response: the school-climate scale is the mean of the five
-- items (1-5) when at least three are answered; satisfaction (1-10) as given.
with items as (
    select
        *,
        (case when climate_1 is null then 0 else 1 end + case when climate_2 is null then 0 else 1 end
         + case when climate_3 is null then 0 else 1 end + case when climate_4 is null then 0 else 1 end
         + case when climate_5 is null then 0 else 1 end) as climate_items_answered,
        (coalesce(climate_1, 0) + coalesce(climate_2, 0) + coalesce(climate_3, 0) + coalesce(climate_4, 0) + coalesce(climate_5, 0)) as climate_item_sum
    from {{ ref('stg_survey__responses') }}
)

select
    delivery_id,
    row_locator,
    respondent_group,
    respondent_id,
    school_id,
    response_date,
    {{ school_year('response_date') }} as school_year,
    climate_items_answered,
    cast(case when climate_items_answered >= 3 then 1.0 * climate_item_sum / climate_items_answered end as {{ type_double() }}) as climate_score,
    satisfaction
from items
