{{ config(meta={'dagster': {'ref': {'name': 'fct_youth_care_costs'}}}) }}
-- Costs in the marts equal the netted declarations: per declared line, the months add up
-- to debit minus credit, and the panel holds exactly the costs of pupil-months.
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

panel_mismatch as (
    select panel_total.cents as panel_cents, costs_total.cents as costs_cents
    from (select coalesce(sum(declared_cost_cents), 0) as cents from {{ ref('fct_pupil_month') }}) as panel_total
    cross join (select coalesce(sum(costs.amount_cents), 0) as cents
                from {{ ref('fct_youth_care_costs') }} as costs
                inner join {{ ref('fct_pupil_month') }} as panel
                    on panel.pupil_pseudonym = costs.client_pseudonym and panel.month = costs.month) as costs_total
    where panel_total.cents <> costs_total.cents
)

select 'line' as level, declared_line_id, net_amount_cents as expected, spread_cents as actual from line_mismatch
union all
select 'panel', null, costs_cents, panel_cents from panel_mismatch
