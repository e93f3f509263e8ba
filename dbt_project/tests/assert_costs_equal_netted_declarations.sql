{{ config(meta={'dagster': {'ref': {'name': 'fct_youth_care_costs'}}}) }}
-- Costs in the marts equal the netted declarations: per declared line, the months add up
-- to debit minus credit, and per month the panel holds exactly the costs of the pupils it
-- holds that month (the cost rows that found the client's school in int_pupil_months).
-- Month by month against the costs' school rather than joining costs to the panel on
-- pupil and month: that join read the pseudonym of every panel row (178 million at the
-- national pool; 39 s cold, 7 s warm), the month totals read two numeric columns.
with per_line as (
    select declared_line_id, sum(amount_cents) as spread_cents
    from {{ ref('fct_youth_care_costs') }}
    group by declared_line_id
),

line_mismatch as (
    select netted.declared_line_id, netted.net_amount_cents, per_line.spread_cents
    from {{ ref('int_declaration_lines_netted') }} as netted
    left join per_line on per_line.declared_line_id = netted.declared_line_id
    where coalesce(per_line.spread_cents, 0) <> netted.debit_cents - netted.credit_cents
),

panel_months as (
    select month, sum(declared_cost_cents) as cents
    from {{ ref('fct_pupil_month') }}
    group by month
),

pupil_cost_months as (
    select month, sum(amount_cents) as cents
    from {{ ref('fct_youth_care_costs') }}
    where school_id is not null
    group by month
),

month_mismatch as (
    select
        coalesce(panel_months.month, pupil_cost_months.month) as month,
        coalesce(pupil_cost_months.cents, 0) as costs_cents,
        coalesce(panel_months.cents, 0) as panel_cents
    from panel_months
    full outer join pupil_cost_months on pupil_cost_months.month = panel_months.month
    where coalesce(panel_months.cents, 0) <> coalesce(pupil_cost_months.cents, 0)
)

select 'line' as level, declared_line_id, null as month, net_amount_cents as expected, spread_cents as actual from line_mismatch
union all
select 'month', null, month, costs_cents, panel_cents from month_mismatch
