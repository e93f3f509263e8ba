-- One row per youth-care trajectory (request -> allocation -> start -> stop), decoded,
-- with the pupil's school at the request (or allocation) month when the client is a pupil.
select
    trajectories.trajectory_id,
    trajectories.municipality_code,
    trajectories.provider_agb,
    trajectories.client_pseudonym,
    trajectories.request_message_id,
    trajectories.allocation_number,
    trajectories.request_date,
    trajectories.referrer_type_code,
    referrers.label as referrer_type,
    trajectories.product_category,
    categories.description_en as product_category_description,
    categories.kind_of_care,
    categories.kind_of_care = 'intensive_with_stay' as with_stay,
    trajectories.product_code,
    trajectories.allocation_date,
    trajectories.allocation_start,
    trajectories.allocation_end,
    trajectories.allocated_volume,
    trajectories.unit_code,
    units.description_en as unit,
    trajectories.frequency_code,
    frequencies.description_en as frequency,
    trajectories.budget_cents,
    trajectories.care_start,
    trajectories.care_end,
    trajectories.end_reason_code,
    end_reasons.description_en as end_reason,
    end_reasons.ended_early,
    trajectories.status,
    cast(case when trajectories.care_start is not null
         then {{ dbt.datediff('trajectories.care_start', 'coalesce(trajectories.care_end, trajectories.allocation_end)', 'day') }} + 1
    end as bigint) as care_days,
    panel.school_id
from {{ ref('int_care_trajectories') }} as trajectories
left join {{ ref('int_pupil_months') }} as panel
    on panel.pupil_pseudonym = trajectories.client_pseudonym
    and panel.month = {{ month_start('coalesce(trajectories.request_date, trajectories.allocation_date)') }}
left join {{ ref('ijw_referrer_types') }} as referrers on referrers.code = trajectories.referrer_type_code
left join {{ ref('ijw_product_categories') }} as categories on categories.code = trajectories.product_category
left join {{ ref('ijw_units') }} as units on units.code = trajectories.unit_code
left join {{ ref('ijw_frequencies') }} as frequencies on frequencies.code = trajectories.frequency_code
left join {{ ref('ijw_end_reasons') }} as end_reasons on end_reasons.code = trajectories.end_reason_code
