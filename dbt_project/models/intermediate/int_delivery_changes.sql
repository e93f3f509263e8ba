-- For incremental facts: per delivery, when it changed the warehouse (its registration,
-- the registration of the delivery that superseded it, or its re-pseudonymisation) and the earliest month its rows
-- talk about. Facts keyed by month rebuild from the earliest month any delivery changed
-- since their last build. A school export can also change earlier months than its own
-- dates (a later enrolment turns an earlier exit into a transfer or a referral to
-- special education; absence extends a thuiszitter spell that started before): those
-- rebuild from exit_lookback_months() earlier (changes_earlier_months). An iJw message
-- changes only the months from its own dates on (first_month covers an allocation's
-- request and a stop's end date).
with first_dates as (
    select delivery_id, min(enrol_start) as first_date, true as changes_earlier_months from {{ source('raw', 'school_enrolments') }} group by delivery_id
    union all
    select delivery_id, min(absence_date), true from {{ source('raw', 'school_absence') }} group by delivery_id
    union all
    select delivery_id, min(message_date), false from {{ source('raw', 'ijw_requests') }} group by delivery_id
    union all
    -- an allocation also changes its request's month (new_referrals_allocated)
    select allocations.delivery_id, min(least(allocations.allocation_start, allocations.message_date, coalesce(requests.message_date, allocations.message_date))), false
    from {{ source('raw', 'ijw_allocations') }} as allocations
    left join {{ source('raw', 'ijw_requests') }} as requests
        on requests.provider_reference = allocations.provider_reference and requests.provider_agb = allocations.provider_agb
    group by allocations.delivery_id
    union all
    select delivery_id, min(start_date), false from {{ source('raw', 'ijw_starts') }} group by delivery_id
    union all
    -- a stop ends care from its end date on; the months before keep their care
    select delivery_id, min(coalesce(end_date, start_date)), false from {{ source('raw', 'ijw_stops') }} group by delivery_id
    union all
    select delivery_id, min(product_period_start), false from {{ source('raw', 'ijw_declaration_lines') }} group by delivery_id
),

registered as (
    select
        deliveries.delivery_id,
        -- a rekeyed delivery (`pilotmonitor rekey`) changed every pseudonym it holds
        max(case
            when deliveries.rekeyed_at > deliveries.registered_at and (superseder.registered_at is null or deliveries.rekeyed_at > superseder.registered_at) then deliveries.rekeyed_at
            when superseder.registered_at > deliveries.registered_at then superseder.registered_at
            else deliveries.registered_at
        end) as changed_at
    from {{ source('raw', 'deliveries') }} as deliveries
    left join {{ source('raw', 'deliveries') }} as superseder on superseder.path = deliveries.superseded_by
    where deliveries.status = 'loaded'
    group by deliveries.delivery_id
)

select
    registered.delivery_id,
    registered.changed_at,
    {{ month_start('min(first_dates.first_date)') }} as first_month,
    {{ dbt.bool_or('first_dates.changes_earlier_months') }} as changes_earlier_months
from registered
inner join first_dates on first_dates.delivery_id = registered.delivery_id
group by registered.delivery_id, registered.changed_at
