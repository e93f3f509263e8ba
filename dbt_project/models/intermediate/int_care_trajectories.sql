-- Care trajectories assembled from the iJw message chain:
--   JW315 request  -> JW301 allocation (same provider reference)
--                  -> JW305 start and JW307 stop (same allocation number).
-- A message delivered twice (in two deliveries) counts once: the newest delivery wins.
-- Allocations without a request (municipality-initiated) are trajectories too.
with requests as (
    select * from {{ ref('int_ijw_requests') }}
),

allocations as (
    {{ newest_copy_per_allocation(ref('stg_ijw__allocations')) }}
),

starts as (
    select municipality_code, allocation_number, min(start_date) as start_date
    from {{ ref('stg_ijw__starts') }}
    group by municipality_code, allocation_number
),

stops as (
    {{ newest_copy_per_allocation(ref('stg_ijw__stops')) }}
),

chained as (
    select
        coalesce(allocations.municipality_code, requests.municipality_code) as municipality_code,
        coalesce(allocations.provider_agb, requests.provider_agb) as provider_agb,
        coalesce(allocations.client_pseudonym, requests.client_pseudonym) as client_pseudonym,
        requests.message_id as request_message_id,
        requests.provider_reference,
        allocations.allocation_number,
        requests.request_date,
        requests.referrer_type_code,
        coalesce(allocations.product_category, requests.product_category) as product_category,
        coalesce(allocations.product_code, requests.product_code) as product_code,
        allocations.allocation_date,
        allocations.allocation_start,
        allocations.allocation_end,
        allocations.volume as allocated_volume,
        allocations.unit_code,
        allocations.frequency_code,
        allocations.budget_cents
    from requests
    full outer join allocations
        on allocations.municipality_code = requests.municipality_code
        and allocations.provider_agb = requests.provider_agb
        and allocations.provider_reference = requests.provider_reference
)

select
    {{ dbt.hash("chained.municipality_code || '|' || coalesce('A' || chained.allocation_number, 'R' || chained.provider_agb || '|' || chained.provider_reference)") }} as trajectory_id,
    chained.*,
    starts.start_date as care_start,
    stops.end_date as care_end,
    stops.end_reason_code,
    case
        when stops.end_date is not null then 'ended'
        when starts.start_date is not null then 'in_care'
        when chained.allocation_number is not null then 'allocated'
        else 'requested'
    end as status
from chained
left join starts
    on starts.municipality_code = chained.municipality_code and starts.allocation_number = chained.allocation_number
left join stops
    on stops.municipality_code = chained.municipality_code and stops.allocation_number = chained.allocation_number
