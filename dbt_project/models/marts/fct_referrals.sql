-- One row per requested product of a youth-care request (JW315), the referral: who
-- referred (the referrer is given per product), which product, and
-- where the young person was at school in the month of the request (null when the
-- client is not a pupil in the panel that month).
with requests as (
    select * from {{ ref('int_ijw_requests') }}
)

select
    {{ dbt.hash("requests.municipality_code || '|' || requests.message_id || '|' || requests.provider_reference") }} as referral_id,
    requests.message_id,
    requests.municipality_code,
    requests.provider_agb,
    requests.client_pseudonym,
    requests.request_date,
    {{ month_start('requests.request_date') }} as month,
    requests.referrer_type_code,
    referrers.label as referrer_type,
    requests.product_category,
    categories.description_en as product_category_description,
    -- a request may name no product (JW315 Product is optional): its kind is 'unspecified'
    case when requests.product_category is null then 'unspecified' else categories.kind_of_care end as kind_of_care,
    requests.product_code,
    requests.requested_start,
    requests.requested_end,
    exists (
        select 1 from {{ ref('int_care_trajectories') }} as t
        where t.municipality_code = requests.municipality_code
          and t.request_message_id = requests.message_id
          and t.provider_reference = requests.provider_reference
          and t.allocation_number is not null
    ) as is_allocated,
    panel.pupil_pseudonym,
    panel.school_id,
    requests.delivery_id
from requests
left join {{ ref('int_pupil_months') }} as panel
    on panel.pupil_pseudonym = requests.client_pseudonym
    and panel.month = {{ month_start('requests.request_date') }}
left join {{ ref('ijw_referrer_types') }} as referrers on referrers.code = requests.referrer_type_code
left join {{ ref('ijw_product_categories') }} as categories on categories.code = requests.product_category
